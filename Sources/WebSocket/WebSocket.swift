import Sockets

/// The server's handle on one WebSocket.
///
/// Confinement: `session` is only touched on `loop`; `send`/`close` hop there when
/// called from another thread. Hence `@unchecked Sendable`.
public final class WebSocket: @unchecked Sendable {
    public let loop: EventLoop
    let session: WebSocketSession

    init(loop: EventLoop, session: WebSocketSession) {
        self.loop = loop
        self.session = session
    }

    /// Sends a text message. Safe from any thread; dropped once the socket is closing.
    public func send(text: String) {
        let frame = WebSocketFrame(opcode: .text, payload: Array(text.utf8))
        if loop.isCurrent {
            session.send(frame)
        } else {
            loop.execute { [self] in session.send(frame) }
        }
    }

    /// Starts the closing handshake. Safe from any thread.
    public func close(_ code: WebSocketCloseCode = .normal) {
        if loop.isCurrent {
            session.close(code)
        } else {
            loop.execute { [self] in session.close(code) }
        }
    }

    /// Bytes queued but not yet written. Loop thread only.
    public var bufferedBytes: Int { session.connection.pendingOutputBytes }

    /// False once closing has begun. Loop thread only.
    public var isOpen: Bool { session.isOpen }
}
