/// Decodes frames with the frame-size limit applied as soon as the header is read, so
/// an oversized frame is refused before its payload arrives. A server decodes client
/// frames, which must be masked; a client decodes server frames, which must not be
/// (§5.1). Input may be split anywhere; `decode` returns `.needMore` until a whole
/// frame is buffered.
public struct WebSocketFrameDecoder {
    public enum Outcome: Equatable {
        case needMore
        case frame(WebSocketFrame, consumed: Int)
        case failure(WebSocketCloseCode)
    }

    public let maxPayload: Int
    /// True on a server (client frames are masked), false on a client.
    public let expectMasked: Bool
    public init(maxPayload: Int = 4096, expectMasked: Bool = true) {
        self.maxPayload = maxPayload
        self.expectMasked = expectMasked
    }

    public func decode(_ buf: UnsafeBufferPointer<UInt8>) -> Outcome {
        guard buf.count >= 2 else { return .needMore }
        let b0 = buf[0], b1 = buf[1]
        // No extension was negotiated, so every RSV bit must be 0 (§5.2).
        guard b0 & 0x70 == 0 else { return .failure(.protocolError) }
        guard let opcode = WebSocketFrame.Opcode(rawValue: b0 & 0x0F) else { return .failure(.protocolError) }
        let fin = b0 & 0x80 != 0
        // Clients MUST mask, servers MUST NOT (§5.1).
        let masked = b1 & 0x80 != 0
        guard masked == expectMasked else { return .failure(.protocolError) }
        var length = UInt64(b1 & 0x7F)
        var offset = 2
        if length == 126 {
            guard buf.count >= 4 else { return .needMore }
            length = UInt64(buf[2]) << 8 | UInt64(buf[3])
            offset = 4
        } else if length == 127 {
            guard buf.count >= 10 else { return .needMore }
            length = 0
            for i in 2..<10 { length = length << 8 | UInt64(buf[i]) }
            guard length >> 63 == 0 else { return .failure(.protocolError) }   // MSB must be 0 (§5.2)
            offset = 10
        }
        if opcode.isControl {
            // Control frames: at most 125 bytes and never fragmented (§5.5).
            guard fin, length <= 125 else { return .failure(.protocolError) }
        }
        guard length <= UInt64(maxPayload) else { return .failure(.messageTooBig) }
        let n = Int(length)
        let keyBytes = masked ? 4 : 0
        guard buf.count >= offset + keyBytes + n else { return .needMore }
        guard masked else {
            let payload = Array(UnsafeBufferPointer(rebasing: buf[(offset)..<(offset + n)]))
            return .frame(WebSocketFrame(fin: fin, opcode: opcode, payload: payload), consumed: offset + n)
        }
        let mask = (buf[offset], buf[offset + 1], buf[offset + 2], buf[offset + 3])
        offset += 4
        var payload = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            let m: UInt8
            switch i & 3 {
            case 0: m = mask.0
            case 1: m = mask.1
            case 2: m = mask.2
            default: m = mask.3
            }
            payload[i] = buf[offset + i] ^ m
        }
        return .frame(WebSocketFrame(fin: fin, opcode: opcode, payload: payload), consumed: offset + n)
    }
}
