@testable import SyncEngine
import Testing

/// The conversation list's page token: `p2` and LEB128 varints (asOf, lastActiveAt,
/// lastRoom as bit patterns, then the count and the deltas of the ids returned), in
/// base64url. Hostile tokens: `TokenHostileInputTests`.
@Suite struct PageTokenTests {
    @Test(arguments: [
        (UInt64(0), [UInt8(0x00)]),
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (300, [0xAC, 0x02]),
        (16_384, [0x80, 0x80, 0x01]),
        (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ] as [(UInt64, [UInt8])])
    func varints(_ value: UInt64, _ bytes: [UInt8]) {
        var out: [UInt8] = []
        Varint.append(value, to: &out)
        #expect(out == bytes)
        var reader = Varint.Reader(bytes: bytes, offset: 0)
        #expect(reader.next() == value)
        #expect(reader.atEnd)
    }

    @Test func truncatedAndOverlongVarintsAreRefused() {
        var truncated = Varint.Reader(bytes: [0x80], offset: 0)
        #expect(truncated.next() == nil)
        var overlong = Varint.Reader(bytes: [UInt8](repeating: 0xFF, count: 10) + [0x01], offset: 0)
        #expect(overlong.next() == nil)
        var empty = Varint.Reader(bytes: [], offset: 0)
        #expect(empty.next() == nil)
    }

    @Test(arguments: [
        Conversations.PageToken(asOf: 1_700_000_000_000, lastActiveAt: 1_699_999_999_999, lastRoom: 12, returned: [5, 7, 40]),
        Conversations.PageToken(asOf: .max, lastActiveAt: .min, lastRoom: -1, returned: []),
        Conversations.PageToken(asOf: 0, lastActiveAt: 0, lastRoom: 0, returned: [1, .max]),
    ])
    func tokensRoundTrip(_ token: Conversations.PageToken) throws {
        let text = token.encoded
        #expect(Base64URL.decode(text).map { Array($0.prefix(2)) } == Array("p2".utf8))
        let back = try #require(Conversations.PageToken.decode(text))
        #expect(back.asOf == token.asOf && back.lastActiveAt == token.lastActiveAt && back.lastRoom == token.lastRoom)
        #expect(back.returned == token.returned)
    }

    @Test func otherTextsAreNotTokens() {
        #expect(Conversations.PageToken.decode("") == nil)
        #expect(Conversations.PageToken.decode(Base64URL.encode(Array("p1".utf8) + [0, 0, 0, 0])) == nil)
        #expect(Conversations.PageToken.decode(Cursor(user: UserID(1), inboxSeq: 1).encoded) == nil)
        #expect(Conversations.PageToken.decode(String(repeating: "A", count: 12_004)) == nil)
    }
}
