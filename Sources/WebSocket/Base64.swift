/// Standard base64 with padding (RFC 4648 §4), for `Sec-WebSocket-Accept`.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            let v = UInt32(b0) << 16 | UInt32(b1) << 8 | UInt32(b2)
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(i + 1 < bytes.count ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decoded length of a padded base64 string, or nil if it is not one (key validation).
    public static func decodedLength(_ s: String) -> Int? {
        let u = Array(s.utf8)
        guard u.count % 4 == 0, !u.isEmpty else { return nil }
        let pad = u.reversed().prefix(while: { $0 == UInt8(ascii: "=") }).count
        guard pad <= 2, u.dropLast(pad).allSatisfy({ alphabet.contains($0) }) else { return nil }
        return u.count / 4 * 3 - pad
    }
}
