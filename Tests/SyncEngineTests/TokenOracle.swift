import MutationSupport
@testable import SyncEngine

/// The invariants of fuzz/cursor.swift: base64url has one spelling per value; a decoded
/// cursor has its fields in range and re-encodes to the very text it came from; a
/// decoded page token has at most 10,000 ascending positive ids and round-trips.
enum TokenOracle {
    @discardableResult
    static func cursor(_ text: String, _ v: inout Violations) -> Cursor? {
        let bytes = Array(text.utf8)
        if let b = Base64URL.decode(text) { v.check(Base64URL.encode(b) == text, "base64url has a second spelling", bytes) }
        guard let c = Cursor.decode(text) else { return nil }
        v.check(c.user.rawValue > 0 && c.inboxSeq >= 0, "cursor fields out of range", bytes)
        v.check(c.hot.allSatisfy { $0.key.rawValue > 0 && $0.value >= 0 }, "hot entry out of range", bytes)
        v.check(c.encoded == text, "cursor has a second spelling: \(c.encoded)", bytes)
        v.check(Cursor.decode(c.encoded) == c, "cursor does not round-trip", bytes)
        return c
    }

    @discardableResult
    static func pageToken(_ text: String, _ v: inout Violations) -> Conversations.PageToken? {
        let bytes = Array(text.utf8)
        guard let t = Conversations.PageToken.decode(text) else { return nil }
        v.check(t.returned.count <= 10_000, "too many ids", bytes)
        v.check(zip([0] + t.returned, t.returned).allSatisfy { $0 < $1 }, "ids not ascending and positive", bytes)
        let u = Conversations.PageToken.decode(t.encoded)
        v.check(u?.asOf == t.asOf && u?.lastActiveAt == t.lastActiveAt && u?.lastRoom == t.lastRoom && u?.returned == t.returned,
                "page token does not round-trip", bytes)
        return t
    }
}
