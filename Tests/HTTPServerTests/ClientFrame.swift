/// WebSocket frames as a client sends them, built byte by byte (not with the codec
/// under test); `WebSocketTests` has the same builder for the codec's own tests.
enum ClientFrame {
    /// A client frame: masked with `mask` (RFC 6455 §5.3).
    static func masked(_ b0: UInt8, _ payload: [UInt8], mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]) -> [UInt8] {
        var out: [UInt8] = [b0]
        let n = payload.count
        if n < 126 { out.append(0x80 | UInt8(n)) } else if n <= 0xFFFF { out += [0x80 | 126, UInt8(n >> 8), UInt8(n & 0xFF)] } else {
            out.append(0x80 | 127)
            for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: UInt64(n) >> (UInt64(i) * 8))) }
        }
        out += mask
        for (i, b) in payload.enumerated() { out.append(b ^ mask[i % 4]) }
        return out
    }
}
