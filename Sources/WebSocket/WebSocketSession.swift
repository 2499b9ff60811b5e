import HTTPServer
import Sockets

/// The WebSocket life of a connection after `101 Switching Protocols` (RFC 6455): the
/// connection's own input buffer is decoded into frames, so frames the client sent
/// right behind the handshake are not lost. Pings keep the peer alive, pongs wait
/// while output is backed up, and a peer that does not read is closed.
///
/// Confinement: loop thread only, like the connection (`UpgradedConnection`).
final class WebSocketSession: UpgradeHandler {
    let connection: UpgradedConnection
    let config: WebSocketConfiguration
    let decoder: WebSocketFrameDecoder
    var proto: WebSocketProtocol
    var delegate: WebSocketDelegate?
    /// The application's handle; nil once the connection closed.
    private(set) var handle: WebSocket?
    var heardSinceLastPing = true
    /// The pong for the latest ping, while output is backed up (at most one is held).
    var pendingPong: WebSocketFrame?
    var pingTimer: TimerToken?

    /// A pong is queued only while less than this is waiting to be sent.
    static var pongQueueBytes: Int { 4096 }

    init(connection: UpgradedConnection, config: WebSocketConfiguration, delegate: WebSocketDelegate) {
        self.connection = connection
        self.config = config
        self.decoder = WebSocketFrameDecoder(maxPayload: config.maxFrameBytes)
        self.proto = WebSocketProtocol(maxMessage: config.maxFrameBytes)
        self.delegate = delegate
        handle = WebSocket(loop: connection.loop, session: self)
        schedulePing()
    }

    var isOpen: Bool { connection.isOpen && proto.state == .open }

    // MARK: UpgradeHandler

    func processInput() {
        // While output is backed up, frames wait (and reading stops at the input bound).
        while connection.hasInput && !connection.outputBackedUp {
            guard connection.isOpen, connection.takeWorkUnit() else { break }
            let outcome = connection.withInput { decoder.decode($0) }
            switch outcome {
            case .needMore:
                return
            case .frame(let frame, let consumed):
                connection.consumeInput(consumed)
                heardSinceLastPing = true
                apply(proto.receive(frame))
            case .failure(let code):
                apply(proto.fail(code))
                return
            }
        }
        _ = queuePendingPong()
    }

    func outputDrained() -> Bool {
        if queuePendingPong() { return true }
        if let ws = handle { delegate?.webSocketDidDrain(ws) }
        return false
    }

    func serverDraining() { close(.goingAway) }

    func connectionClosed() {
        if let t = pingTimer { connection.loop.cancel(t) }
        let delegate = self.delegate
        self.delegate = nil   // break the delegate <-> handle cycle
        if let ws = handle { delegate?.webSocketDidClose(ws) }
        handle = nil
    }

    // MARK: sending and closing

    func send(_ frame: WebSocketFrame) {
        guard isOpen else { return }
        if connection.pendingOutputBytes + frame.payload.count > config.maxBufferedBytes {
            // The peer does not read: refuse to buffer without bound.
            apply(proto.fail(.policyViolation))
        } else {
            connection.write(frame.encoded())
        }
        connection.flush()
    }

    func close(_ code: WebSocketCloseCode) {
        guard connection.isOpen else { return }
        apply(proto.close(code))
        // The peer has a few seconds to answer our close frame; then we close anyway.
        connection.loop.schedule(after: .seconds(3)) { [weak connection] in connection?.close() }
        connection.flush()
    }

    /// Queues the pong owed for the latest ping once the peer has taken what was sent
    /// (RFC 6455 §5.5.3: a flood of pings gets one pong, for the last). Pongs never
    /// eat the buffer that `mail` frames need. True if one was queued.
    private func queuePendingPong() -> Bool {
        guard let pong = pendingPong, connection.isOpen, proto.state == .open,
              connection.pendingOutputBytes <= Self.pongQueueBytes else { return false }
        pendingPong = nil
        connection.write(pong.encoded())
        return true
    }

    private func apply(_ actions: [WebSocketProtocol.Action]) {
        for action in actions {
            switch action {
            case .send(let frame) where frame.opcode == .pong:
                pendingPong = frame   // replaces an unsent one; queued by queuePendingPong
            case .send(let frame):
                connection.write(frame.encoded())
            case .deliverText(let text):
                if let ws = handle { delegate?.webSocket(ws, didReceiveText: text) }
            case .deliverBinary:
                break   // the notifier protocol is text only; binary messages are ignored
            case .closeConnection:
                connection.closeAfterOutput()   // closed once the close frame is flushed
            }
        }
    }

    /// Keep-alive and dead-peer detection: ping every interval; a peer that sent
    /// nothing (not even a pong) since the previous ping is gone.
    private func schedulePing() {
        pingTimer = connection.loop.schedule(after: config.pingInterval) { [weak self] in
            guard let self, self.connection.isOpen else { return }
            guard self.heardSinceLastPing else { return self.connection.close() }
            self.heardSinceLastPing = false
            self.connection.write(WebSocketFrame(opcode: .ping).encoded())
            self.connection.flush()
            self.schedulePing()
        }
    }
}
