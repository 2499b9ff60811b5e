/// A position in one user's event stream. Opaque to clients: a short versioned
/// string (base64url of `v1.<user>.<inbox seq>`), so the server can change what it
/// encodes (hot-room positions) without breaking clients.
public struct Cursor: Sendable, Equatable {
    public let user: UserID
    public let inboxSeq: Int64

    public init(user: UserID, inboxSeq: Int64) {
        self.user = user
        self.inboxSeq = inboxSeq
    }

    public var encoded: String { Base64URL.encode(Array("v1.\(user.rawValue).\(inboxSeq)".utf8)) }

    /// Parses a cursor string; nil when it is not one we issued.
    public static func decode(_ text: String) -> Cursor? {
        guard !text.isEmpty, text.utf8.count <= 256, let bytes = Base64URL.decode(text),
              let plain = String(validating: bytes, as: UTF8.self) else { return nil }
        let parts = plain.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1",
              let user = Int64(parts[1]), user > 0, String(user) == parts[1],
              let seq = Int64(parts[2]), seq >= 0, String(seq) == parts[2] else { return nil }
        return Cursor(user: UserID(user), inboxSeq: seq)
    }
}
