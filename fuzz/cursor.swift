// libFuzzer harness: the opaque client tokens of the sync engine: stream cursors
// (Cursor.decode), conversation page tokens (Conversations.PageToken.decode, internal)
// and the base64url layer under both (Base64URL.decode).
//
// Compiled by fuzz/run into module SyncEngine (JSON as a separate module), so internal
// API is visible.
//
// Each input is tried three ways, so the fuzzer reaches the text grammar behind the
// base64 layer: as the token text itself, as the plaintext of a cursor (base64url-encoded
// here), and as the varint payload of a page token (prefixed with "p2" and encoded).
//
// Invariants checked (beyond "does not trap"):
//  - Base64URL: decode(s) == b implies encode(b) == s (one spelling per value);
//  - Cursor: decode(s) == c implies c.encoded == s and decode(c.encoded) == c; user > 0,
//    inbox seq >= 0, hot room ids > 0 and positions >= 0;
//  - PageToken: decode(s) == t implies decode(t.encoded) == t; returned ids strictly
//    ascending and positive; at most 10,000 of them.

func fuzzCursor(_ text: String) {
    guard let c = Cursor.decode(text) else { return }
    precondition(c.user.rawValue > 0 && c.inboxSeq >= 0, "cursor fields out of range")
    for (room, pos) in c.hot { precondition(room.rawValue > 0 && pos >= 0, "hot entry out of range") }
    precondition(c.encoded == text, "cursor has a second spelling: \(text) vs \(c.encoded)")
    precondition(Cursor.decode(c.encoded) == c, "cursor does not round-trip")
}

func fuzzPageToken(_ text: String) {
    guard let t = Conversations.PageToken.decode(text) else { return }
    precondition(t.returned.count <= 10_000, "too many ids")
    var previous: Int64 = 0
    for id in t.returned {
        precondition(id > previous, "ids not strictly ascending / not positive")
        previous = id
    }
    guard let u = Conversations.PageToken.decode(t.encoded) else { preconditionFailure("page token does not re-decode") }
    precondition(u.asOf == t.asOf && u.lastActiveAt == t.lastActiveAt && u.lastRoom == t.lastRoom && u.returned == t.returned,
                 "page token does not round-trip")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCursorTokens(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    // 1. The bytes as token text (what arrives in a query string, after percent-decoding).
    let text = String(decoding: bytes, as: UTF8.self)
    if let b = Base64URL.decode(text) {
        precondition(Base64URL.encode(b) == text, "base64url has a second spelling")
    }
    fuzzCursor(text)
    fuzzPageToken(text)

    // 2. The bytes as a cursor's plaintext.
    let asCursor = Base64URL.encode(bytes)
    precondition(Base64URL.decode(asCursor) == bytes, "base64url does not round-trip")
    fuzzCursor(asCursor)

    // 3. The bytes as a page token's varint payload.
    fuzzPageToken(Base64URL.encode([0x70, 0x32] + bytes))
    return 0
}
