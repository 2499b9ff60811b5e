/// What the server does with each client frame (RFC 6455 §5.4 fragmentation, §5.5
/// control frames, §7 closing). Pure and socket-free, so every close-code path is
/// tested with frames alone.
public struct WebSocketProtocol {
    public enum Action: Equatable {
        case send(WebSocketFrame)
        case deliverText(String)
        case deliverBinary([UInt8])
        /// Close the TCP connection once everything queued has been written.
        case closeConnection
    }

    public enum State: Equatable { case open, closeSent, closed }

    public private(set) var state: State = .open
    private var fragments: [UInt8] = []
    private var fragmentOpcode: WebSocketFrame.Opcode? = nil
    public let maxMessage: Int

    public init(maxMessage: Int = 4096) { self.maxMessage = maxMessage }

    public mutating func receive(_ frame: WebSocketFrame) -> [Action] {
        guard state != .closed else { return [] }
        switch frame.opcode {
        case .ping:
            return state == .open ? [.send(WebSocketFrame(opcode: .pong, payload: frame.payload))] : []
        case .pong:
            return []
        case .close:
            return receiveClose(frame.payload)
        case .text, .binary:
            guard fragmentOpcode == nil else { return fail(.protocolError) }   // a new message inside a fragmented one
            if frame.fin { return deliver(frame.opcode, frame.payload) }
            fragmentOpcode = frame.opcode
            fragments = frame.payload
            return []
        case .continuation:
            guard let opcode = fragmentOpcode else { return fail(.protocolError) }   // nothing to continue
            guard fragments.count + frame.payload.count <= maxMessage else { return fail(.messageTooBig) }
            fragments.append(contentsOf: frame.payload)
            guard frame.fin else { return [] }
            let message = fragments
            fragments = []
            fragmentOpcode = nil
            return deliver(opcode, message)
        }
    }

    private mutating func deliver(_ opcode: WebSocketFrame.Opcode, _ payload: [UInt8]) -> [Action] {
        guard state == .open else { return [] }
        if opcode == .binary { return [.deliverBinary(payload)] }
        guard let text = String(validating: payload, as: UTF8.self) else { return fail(.invalidPayload) }
        return [.deliverText(text)]
    }

    private mutating func receiveClose(_ payload: [UInt8]) -> [Action] {
        if state == .closeSent {
            state = .closed
            return [.closeConnection]   // our close was answered: the handshake is complete
        }
        var code: UInt16? = nil
        if payload.count == 1 { return fail(.protocolError) }
        if payload.count >= 2 {
            let c = UInt16(payload[0]) << 8 | UInt16(payload[1])
            guard Self.isValidReceivedCode(c) else { return fail(.protocolError) }
            guard String(validating: payload[2...], as: UTF8.self) != nil else { return fail(.invalidPayload) }
            code = c
        }
        // Echo the close (§5.5.1) and end the connection.
        state = .closed
        return [.send(Self.closeFrame(code.map { $0 } ?? WebSocketCloseCode.normal.rawValue, reason: "")), .closeConnection]
    }

    /// Server-initiated close: send it and wait for the peer's close frame.
    public mutating func close(_ code: WebSocketCloseCode, reason: String = "") -> [Action] {
        guard state == .open else { return [] }
        state = .closeSent
        return [.send(Self.closeFrame(code.rawValue, reason: reason))]
    }

    /// A protocol violation: close with `code` and drop the connection (§7.1.7).
    public mutating func fail(_ code: WebSocketCloseCode) -> [Action] {
        guard state != .closed else { return [] }
        let wasOpen = state == .open
        state = .closed
        return (wasOpen ? [.send(Self.closeFrame(code.rawValue, reason: ""))] : []) + [.closeConnection]
    }

    static func closeFrame(_ code: UInt16, reason: String) -> WebSocketFrame {
        WebSocketFrame(opcode: .close, payload: [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8.prefix(123)))
    }

    /// Codes a peer may put on the wire (§7.4.1-§7.4.2): 1004-1006 and 1015 are reserved.
    static func isValidReceivedCode(_ c: UInt16) -> Bool {
        switch c {
        case 1000...1003, 1007...1011: return true
        case 3000...4999: return true
        default: return false
        }
    }
}
