import WebSocket

/// The WebSocket client (RFC 6455 §4.1): the upgrade with its accept-key check, masked
/// text frames out, frames in (pings answered, a close echoed).
extension ClientConnection {
    /// What a WebSocket client hears: the upgrade answer (nil = 101), text messages, and the end.
    public struct WebSocketHandlers {
        public var opened: (Response?) -> Void
        public var text: ([UInt8]) -> Void
        public var ended: (Failure) -> Void
        public init(opened: @escaping (Response?) -> Void, text: @escaping ([UInt8]) -> Void, ended: @escaping (Failure) -> Void) {
            self.opened = opened
            self.text = text
            self.ended = ended
        }
    }

    /// Upgrades to a WebSocket at `path` (a fresh connection is opened if needed).
    /// `opened(nil)` means 101; any other answer is handed over and the connection closes.
    public func openWebSocket(_ path: String, headers: [(String, String)] = [], handlers: WebSocketHandlers) {
        var key: [UInt8] = []
        for _ in 0..<4 { key += withUnsafeBytes(of: nextMask()) { Array($0) } }
        let expected = WebSocketHandshake.acceptKey(for: Base64.encode(key))
        upgrade = handlers
        request("GET", path, headers: headers + [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                  ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", Base64.encode(key))],
                timeout: .seconds(10)) { [self] result in
            guard let handlers = upgrade else { return }
            switch result {
            case .failure(let f):
                upgrade = nil
                handlers.ended(f)
            case .success(let r) where r.status == 101:
                guard r.header("sec-websocket-accept") == expected else {
                    upgrade = nil
                    close()
                    handlers.ended(.malformed("Sec-WebSocket-Accept does not match the key"))
                    return
                }
                state = .webSocket
                handlers.opened(nil)
                readFrames()
            case .success(let r):
                upgrade = nil
                handlers.opened(r)
                close()
            }
        }
    }

    /// Sends a text message on an open WebSocket (masked, as a client must).
    public func sendText(_ bytes: [UInt8]) {
        guard state == .webSocket else { return }
        output.append(contentsOf: WebSocketFrame(opcode: .text, payload: bytes).encodedMasked(nextMask()))
        flush()
    }

    func readFrames() {
        while state == .webSocket && !input.isEmpty {
            let outcome = input.withUnsafeBufferPointer { frames.decode($0) }
            switch outcome {
            case .needMore:
                return
            case .failure(let code):
                return fail(.webSocketClosed(code: code.rawValue))
            case .frame(let frame, let consumed):
                input.removeFirst(consumed)
                switch frame.opcode {
                case .text, .binary, .continuation: upgrade?.text(frame.payload)
                case .ping:
                    output.append(contentsOf: WebSocketFrame(opcode: .pong, payload: frame.payload).encodedMasked(nextMask()))
                    flush()
                case .pong: break
                case .close:
                    let code = frame.payload.count >= 2 ? UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]) : 1005
                    output.append(contentsOf: WebSocketFrame(opcode: .close, payload: Array(frame.payload.prefix(2))).encodedMasked(nextMask()))
                    flush()
                    return fail(.webSocketClosed(code: code))
                }
            }
        }
    }

    /// xorshift32: masks need only be unpredictable to intermediaries, not secret (§10.3).
    private func nextMask() -> UInt32 {
        maskState ^= maskState << 13
        maskState ^= maskState >> 17
        maskState ^= maskState << 5
        return maskState
    }
}
