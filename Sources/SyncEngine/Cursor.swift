/// A position in one user's event stream. Opaque to clients: a short versioned
/// string, so the server can change what it encodes without breaking them.
///
/// - `v1.<user>.<inbox seq>`: the inbox position alone (no hot rooms).
/// - `v2.<user>.<inbox seq>.<room>:<seq>,...`: plus one position per hot room
///   (read diffusion), rooms in ascending id order.
///
/// The text is base64url, so it survives query strings untouched.
public struct Cursor: Sendable, Equatable {
    public let user: UserID
    public let inboxSeq: Int64
    /// Position in each hot room the user is in (the last room seq delivered).
    public let hot: [RoomID: Int64]

    public init(user: UserID, inboxSeq: Int64, hot: [RoomID: Int64] = [:]) {
        self.user = user
        self.inboxSeq = inboxSeq
        self.hot = hot
    }

    public var encoded: String {
        var text = hot.isEmpty ? "v1.\(user.rawValue).\(inboxSeq)" : "v2.\(user.rawValue).\(inboxSeq)."
        if !hot.isEmpty {
            text += hot.keys.sorted().map { "\($0.rawValue):\(hot[$0]!)" }.joined(separator: ",")
        }
        return Base64URL.encode(Array(text.utf8))
    }

    /// Parses a cursor string; nil when it is not one we issued.
    public static func decode(_ text: String) -> Cursor? {
        guard !text.isEmpty, text.utf8.count <= 8192, let bytes = Base64URL.decode(text),
              let plain = String(validating: bytes, as: UTF8.self) else { return nil }
        let parts = plain.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3, let user = canonicalInt(parts[1]), user > 0, let seq = canonicalInt(parts[2]) else { return nil }
        switch (parts[0], parts.count) {
        case ("v1", 3):
            return Cursor(user: UserID(user), inboxSeq: seq)
        case ("v2", 4):
            var hot: [RoomID: Int64] = [:]
            var previous: Int64 = 0
            for entry in parts[3].split(separator: ",", omittingEmptySubsequences: false) {
                let kv = entry.split(separator: ":", omittingEmptySubsequences: false)
                guard kv.count == 2, let room = canonicalInt(kv[0]), room > previous, let pos = canonicalInt(kv[1]) else { return nil }
                hot[RoomID(room)] = pos
                previous = room
            }
            return hot.isEmpty ? nil : Cursor(user: UserID(user), inboxSeq: seq, hot: hot)
        default:
            return nil
        }
    }

    /// A non-negative integer in its one canonical spelling (no sign, no leading zeros),
    /// so each position has exactly one cursor text.
    private static func canonicalInt(_ s: Substring) -> Int64? {
        guard let v = Int64(s), v >= 0, String(v) == s else { return nil }
        return v
    }
}
