/// RFC 6455 §5.2 base framing.
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-------+-+-------------+-------------------------------+
///     |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
///     |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
///     |N|V|V|V|       |S|             |   (if payload len==126/127)   |
///     | |1|2|3|       |K|             |                               |
///     +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
///     |     Extended payload length continued, if payload len == 127  |
///     + - - - - - - - - - - - - - - - +-------------------------------+
///     |                               | Masking-key, if MASK set to 1 |
///     +-------------------------------+-------------------------------+
///     | Masking-key (continued)       |          Payload Data         |
///     +-------------------------------- - - - - - - - - - - - - - - - +
public struct WebSocketFrame: Equatable, Sendable {
    public enum Opcode: UInt8, Sendable {
        case continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA
        var isControl: Bool { rawValue & 0x8 != 0 }
    }

    public var fin: Bool
    public var opcode: Opcode
    public var payload: [UInt8]

    public init(fin: Bool = true, opcode: Opcode, payload: [UInt8] = []) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
    }

    /// A server frame: never masked (§5.1).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 10)
        out.append((fin ? 0x80 : 0) | opcode.rawValue)
        let n = payload.count
        if n < 126 {
            out.append(UInt8(n))
        } else if n <= 0xFFFF {
            out.append(126)
            out.append(UInt8(n >> 8)); out.append(UInt8(n & 0xFF))
        } else {
            out.append(127)
            for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: UInt64(n) >> (UInt64(i) * 8))) }
        }
        out.append(contentsOf: payload)
        return out
    }

    /// A client frame: always masked with `mask` (§5.3), as a server requires.
    public func encodedMasked(_ mask: UInt32) -> [UInt8] {
        var out = encoded()
        let start = out.count - payload.count
        out[1] |= 0x80
        let key = [UInt8(truncatingIfNeeded: mask >> 24), UInt8(truncatingIfNeeded: mask >> 16),
                   UInt8(truncatingIfNeeded: mask >> 8), UInt8(truncatingIfNeeded: mask)]
        out.insert(contentsOf: key, at: start)
        for i in 0..<payload.count { out[start + 4 + i] ^= key[i & 3] }
        return out
    }
}

/// Close status codes (RFC 6455 §7.4.1) the server sends.
public enum WebSocketCloseCode: UInt16, Sendable {
    case normal = 1000, goingAway = 1001, protocolError = 1002, unsupportedData = 1003
    case invalidPayload = 1007, policyViolation = 1008, messageTooBig = 1009, internalError = 1011
}

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
