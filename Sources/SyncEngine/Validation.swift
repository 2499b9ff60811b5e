/// Input rules of the domain, in one place.
public enum Validation {
    /// User and device names: 1-64 chars of `[a-z0-9._-]`.
    public static func isValidName(_ name: String) -> Bool {
        let u = name.utf8
        guard (1...64).contains(u.count) else { return false }
        return u.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    /// Device names and room names are display text: 1-64 (devices) / 1-128 (rooms) chars, no control characters.
    public static func isValidDisplayName(_ name: String, max: Int) -> Bool {
        guard !name.isEmpty, name.count <= max else { return false }
        return !name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// `client_msg_id`: 1-64 bytes of printable ASCII.
    public static func isValidClientMsgID(_ id: String) -> Bool {
        let u = id.utf8
        return (1...64).contains(u.count) && u.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
