import MutationSupport
import SyncEngine
import Testing

/// The cursor's encoding as a whole (the text forms case by case: `CursorTextTests`):
/// v1 without hot rooms and v2 with them, rooms always in ascending order, the text in
/// base64url's alphabet only, a round trip for any cursor, and the 8 KiB bound on what
/// `decode` reads (a cursor rides in a query string; a long one is refused unread).
@Suite struct CursorEncodingTests {
    static func plain(_ c: Cursor) -> String { String(decoding: Base64URL.decode(c.encoded) ?? [], as: UTF8.self) }

    @Test func versionAndRoomOrder() {
        #expect(Self.plain(Cursor(user: UserID(7), inboxSeq: 5)) == "v1.7.5")
        let hot: [RoomID: Int64] = [RoomID(70): 0, RoomID(3): 4, RoomID(12): 9]
        #expect(Self.plain(Cursor(user: UserID(7), inboxSeq: 5, hot: hot)) == "v2.7.5.3:4,12:9,70:0")
    }

    @Test func anyCursorRoundTripsThroughTheQueryStringAlphabet() {
        var rng = SeededRandom(seed: 0xC0_2503)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        func value() -> Int64 { rng.below(3) == 0 ? Int64.max - Int64(rng.below(3)) : Int64(rng.below(1_000_000)) }
        for _ in 0..<500 {
            var hot: [RoomID: Int64] = [:]
            for _ in 0..<rng.below(6) { hot[RoomID(1 + value() / 2)] = value() }
            let c = Cursor(user: UserID(1 + value() / 2), inboxSeq: value(), hot: hot)
            let text = c.encoded
            #expect(text.utf8.allSatisfy(alphabet.contains), "\(text)")
            #expect(Cursor.decode(text) == c, "\(text)")
        }
    }

    /// Well-formed cursors around the bound: the longest text under 8,192 bytes decodes,
    /// one just over it is refused although it is well formed.
    @Test func decodeReadsAtMost8KiB() throws {
        func cursor(rooms: Int) -> Cursor {
            Cursor(user: UserID(1), inboxSeq: 1, hot: Dictionary(uniqueKeysWithValues: (1...rooms).map { (RoomID(Int64($0)), Int64(0)) }))
        }
        // The most rooms whose text fits (the length grows with the rooms).
        var (fits, over) = (1, 4096)
        while over - fits > 1 {
            let mid = (fits + over) / 2
            if cursor(rooms: mid).encoded.utf8.count <= 8192 { fits = mid } else { over = mid }
        }
        let longest = cursor(rooms: fits), tooLong = cursor(rooms: over)
        #expect(longest.encoded.utf8.count <= 8192 && tooLong.encoded.utf8.count > 8192)
        #expect(Cursor.decode(longest.encoded) == longest)
        #expect(Cursor.decode(tooLong.encoded)?.hot.count == nil, "a well-formed cursor over 8 KiB decoded")
    }
}
