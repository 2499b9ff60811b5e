import Sockets

/// Callbacks of an upgraded connection. All run on the connection's loop.
public protocol WebSocketDelegate: AnyObject {
    func webSocket(_ ws: WebSocket, didReceiveText text: String)
    /// Everything queued has been written (send the next coalesced update now).
    func webSocketDidDrain(_ ws: WebSocket)
    /// The connection is gone (close handshake, protocol error, dead peer, shutdown).
    func webSocketDidClose(_ ws: WebSocket)
}

extension WebSocketDelegate {
    public func webSocket(_ ws: WebSocket, didReceiveText text: String) {}
    public func webSocketDidDrain(_ ws: WebSocket) {}
}

public struct WebSocketConfiguration: Sendable {
    /// Largest client frame (and reassembled message); larger ones close with 1009.
    public var maxFrameBytes = 4096
    /// A ping goes out this often; a peer that sent nothing for two intervals is closed.
    public var pingInterval: Duration = .seconds(30)
    /// Above this much unsent output the peer is too slow and is closed (1008).
    public var maxBufferedBytes = 256 * 1024

    public init() {}
}

/// The server's handle on one WebSocket.
///
/// Confinement: `connection` is only touched on `loop`; `send`/`close` hop there when
/// called from another thread. Hence `@unchecked Sendable`.
public final class WebSocket: @unchecked Sendable {
    public let loop: EventLoop
    let connection: Connection

    init(loop: EventLoop, connection: Connection) {
        self.loop = loop
        self.connection = connection
    }

    /// Sends a text message. Safe from any thread; dropped once the socket is closing.
    public func send(text: String) {
        let frame = WebSocketFrame(opcode: .text, payload: Array(text.utf8))
        if loop.isCurrent {
            connection.webSocketSend(frame)
        } else {
            loop.execute { [self] in connection.webSocketSend(frame) }
        }
    }

    /// Starts the closing handshake. Safe from any thread.
    public func close(_ code: WebSocketCloseCode = .normal) {
        if loop.isCurrent {
            connection.webSocketClose(code)
        } else {
            loop.execute { [self] in connection.webSocketClose(code) }
        }
    }

    /// Bytes queued but not yet written. Loop thread only.
    public var bufferedBytes: Int { connection.pendingOutputBytes }

    /// False once closing has begun. Loop thread only.
    public var isOpen: Bool { connection.webSocketIsOpen }
}

/// Per-connection WebSocket state, owned by the Connection (loop thread only).
final class WebSocketSession {
    var decoder: WebSocketFrameDecoder
    var proto: WebSocketProtocol
    var delegate: WebSocketDelegate?
    var handle: WebSocket?
    let config: WebSocketConfiguration
    var heardSinceLastPing = true
    /// The pong for the latest ping, while output is backed up (at most one is held).
    var pendingPong: WebSocketFrame?
    var pingTimer: TimerToken?

    init(config: WebSocketConfiguration, delegate: WebSocketDelegate) {
        self.config = config
        self.decoder = WebSocketFrameDecoder(maxPayload: config.maxFrameBytes)
        self.proto = WebSocketProtocol(maxMessage: config.maxFrameBytes)
        self.delegate = delegate
    }
}
