import Sockets

/// The WebSocket life of a connection after `101 Switching Protocols`: the same
/// socket and buffer switch codec, so frames the client sent right behind the
/// handshake are not lost (as FlyingFox does it).
extension Connection {
    /// Upgrades the connection answering request `serial`. Loop thread only.
    func upgrade(serial s: UInt64, acceptKey: String, delegate: WebSocketDelegate,
                 config: WebSocketConfiguration) -> WebSocket? {
        guard isAwaiting(serial: s) else { return nil }
        output.append(contentsOf: ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(acceptKey)\r\n\r\n").utf8)
        cancelHandlers.removeAll()
        context.requestFinished()
        if let head = currentHead {
            currentHead = nil
            context.handler.requestCompleted(head, label: currentLabel, status: 101, nanos: MonotonicClock.now() &- dispatchedAt)
        }
        context.stats.webSockets.wrappingAdd(1, ordering: .relaxed)
        let session = WebSocketSession(config: config, delegate: delegate)
        let ws = WebSocket(loop: context.loop, connection: self)
        session.handle = ws
        webSocketSession = session
        state = .webSocket
        setDeadline(.none, .zero)
        schedulePing(session)
        if !processing {
            processInput()
            flush()
            // The peer shut its side while the upgrade was being decided.
            if peerClosed, case .webSocket = state { close() }
        }
        return ws
    }

    /// A pong is queued only while less than this is waiting to be sent.
    static var pongQueueBytes: Int { 4096 }

    var webSocketIsOpen: Bool {
        if case .webSocket = state, let s = webSocketSession { return s.proto.state == .open }
        return false
    }

    func processWebSocketInput() {
        guard let session = webSocketSession else { return }
        // While output is backed up, frames wait (and reading stops at the input bound).
        while inputStart < input.count && !outputBackedUp {
            guard case .webSocket = state else { break }
            if turnWork >= Self.workPerTurn {
                yieldTurn()
                break
            }
            turnWork += 1
            let start = inputStart
            let outcome = input.withUnsafeBufferPointer { session.decoder.decode(UnsafeBufferPointer(rebasing: $0[start...])) }
            switch outcome {
            case .needMore:
                compactInput()
                return
            case .frame(let frame, let consumed):
                inputStart += consumed
                session.heardSinceLastPing = true
                apply(session.proto.receive(frame), session)
            case .failure(let code):
                apply(session.proto.fail(code), session)
                return
            }
        }
        _ = queuePendingPong(session)
        compactInput()
    }

    /// Queues the pong owed for the latest ping once the peer has taken what was sent
    /// (RFC 6455 §5.5.3: a flood of pings gets one pong, for the last). Pongs never
    /// eat the buffer that `mail` frames need. True if one was queued.
    func queuePendingPong(_ session: WebSocketSession) -> Bool {
        guard let pong = session.pendingPong, case .webSocket = state, session.proto.state == .open,
              pendingOutputBytes <= Self.pongQueueBytes else { return false }
        session.pendingPong = nil
        output.append(contentsOf: pong.encoded())
        return true
    }

    func webSocketSend(_ frame: WebSocketFrame) {
        guard case .webSocket = state, let session = webSocketSession, session.proto.state == .open else { return }
        if pendingOutputBytes + frame.payload.count > session.config.maxBufferedBytes {
            // The peer does not read: refuse to buffer without bound.
            apply(session.proto.fail(.policyViolation), session)
        } else {
            output.append(contentsOf: frame.encoded())
        }
        if !processing { flush() }
    }

    func webSocketClose(_ code: WebSocketCloseCode) {
        guard case .webSocket = state, let session = webSocketSession else { return }
        apply(session.proto.close(code), session)
        // The peer has a few seconds to answer our close frame; then we close anyway.
        context.loop.schedule(after: .seconds(3)) { [weak self] in
            if let self, self.webSocketSession === session { self.close() }
        }
        if !processing { flush() }
    }

    private func apply(_ actions: [WebSocketProtocol.Action], _ session: WebSocketSession) {
        for action in actions {
            switch action {
            case .send(let frame) where frame.opcode == .pong:
                session.pendingPong = frame   // replaces an unsent one; queued by queuePendingPong
            case .send(let frame):
                output.append(contentsOf: frame.encoded())
            case .deliverText(let text):
                if let ws = session.handle { session.delegate?.webSocket(ws, didReceiveText: text) }
            case .deliverBinary:
                break   // the notifier protocol is text only; binary messages are ignored
            case .closeConnection:
                state = .closing   // close() runs once the close frame is flushed
            }
        }
    }

    /// Keep-alive and dead-peer detection: ping every interval; a peer that sent
    /// nothing (not even a pong) since the previous ping is gone.
    private func schedulePing(_ session: WebSocketSession) {
        session.pingTimer = context.loop.schedule(after: session.config.pingInterval) { [weak self] in
            guard let self, self.webSocketSession === session, case .webSocket = self.state else { return }
            guard session.heardSinceLastPing else { return self.close() }
            session.heardSinceLastPing = false
            self.output.append(contentsOf: WebSocketFrame(opcode: .ping).encoded())
            self.flush()
            self.schedulePing(session)
        }
    }

    func webSocketDidClose(_ session: WebSocketSession) {
        if let t = session.pingTimer { context.loop.cancel(t) }
        context.stats.webSockets.wrappingAdd(-1, ordering: .relaxed)
        let delegate = session.delegate
        session.delegate = nil   // break the delegate <-> handle cycle
        if let ws = session.handle { delegate?.webSocketDidClose(ws) }
        session.handle = nil
    }
}
