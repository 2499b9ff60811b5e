import MutationSupport
@testable import SyncEngine
import Testing

/// Stream cursors and conversation page tokens as a hostile client sends them (moved
/// from PigeonholeTests' HostileInputTests, whose live half stays there): thousands of
/// mutated and random texts from a seeded generator, each decoding to a value or nil
/// with the fuzz/cursor.swift invariants holding (`TokenOracle`); a regression corpus of
/// named cases, including the page-token overflow libFuzzer found.
@Suite struct TokenHostileInputTests {
    static let cursorSeeds: [Cursor] = [
        Cursor(user: UserID(1), inboxSeq: 0),
        Cursor(user: UserID(42), inboxSeq: 1000, hot: [RoomID(3): 17, RoomID(9): 0]),
        Cursor(user: UserID(Int64.max), inboxSeq: Int64.max, hot: [RoomID(Int64.max): Int64.max]),
    ]

    @Test func cursorsFromMutatedAndRandomText() {
        var rng = SeededRandom(seed: 0x5EED_1002)
        var v = Violations()
        var decoded = 0
        for c in Self.cursorSeeds {
            let decoded = TokenOracle.cursor(c.encoded, &v)
            #expect(decoded == c)
        }
        let texts = Self.cursorSeeds.map { Array($0.encoded.utf8) }
        let plains = Self.cursorSeeds.map { Base64URL.decode($0.encoded)! }
        for i in 0..<2500 {
            let text: String
            switch i % 4 {
            case 0: text = String(decoding: Mutation.bytes(rng.pick(texts), &rng), as: UTF8.self)   // the token text
            case 1, 2: text = Base64URL.encode(Mutation.bytes(rng.pick(plains), &rng))              // the plaintext behind it
            default: text = String(decoding: rng.bytes(rng.below(64)), as: UTF8.self)
            }
            if TokenOracle.cursor(text, &v) != nil { decoded += 1 }
        }
        #expect(v.count == 0, "\(v)")
        #expect(decoded > 20, "only \(decoded) mutated cursors decoded")
    }

    @Test func pageTokensFromMutatedAndRandomInput() {
        var rng = SeededRandom(seed: 0x5EED_1003)
        var v = Violations()
        var decoded = 0
        let seeds = [
            Conversations.PageToken(asOf: 1_700_000_000_000, lastActiveAt: 1_699_999_999_999, lastRoom: 12, returned: [5, 7, 40]),
            Conversations.PageToken(asOf: Int64.max, lastActiveAt: Int64.min, lastRoom: -1, returned: []),
            Conversations.PageToken(asOf: 1, lastActiveAt: 2, lastRoom: 3, returned: [Int64.max - 1, Int64.max]),
        ]
        let payloads = seeds.map { Array(Base64URL.decode($0.encoded)!.dropFirst(2)) }
        for i in 0..<4000 {
            let text: String
            switch i % 4 {
            case 0: text = String(decoding: Mutation.bytes(Array(rng.pick(seeds).encoded.utf8), &rng), as: UTF8.self)
            case 1, 2: text = Base64URL.encode([0x70, 0x32] + Mutation.bytes(rng.pick(payloads), &rng))
            default: text = Base64URL.encode([0x70, 0x32] + rng.bytes(rng.below(40)))
            }
            if TokenOracle.pageToken(text, &v) != nil { decoded += 1 }
        }
        #expect(v.count == 0, "\(v)")
        #expect(decoded > 100, "only \(decoded) mutated page tokens decoded")
    }

    /// Token texts as a client sends them (base64url), and whether they must decode.
    @Test(arguments: [
        // Found by fuzz/cursor.swift: a varint delta above Int64.max trapped in Int64(d) (fixed).
        ("page token: delta above Int64.max (libFuzzer finding)", "cDITVEF2____________QQ", false),
        ("page token: delta of exactly 2^63", "cDIBAgMBgICAgICAgICAAQ", false),
        ("page token: ids overflow Int64 when summed", "cDIBAgMC__________9_AQ", false),
        ("page token: id of Int64.max", "cDIBAgMB__________9_", true),
        ("page token: zero delta (repeated id)", "cDIBAgMCBQA", false),
        ("page token: 10,001 ids claimed", "cDIBAgORTg", false),
        ("page token: trailing byte", "cDIBAgMAAA", false),
        ("page token: 11-byte varint", "cDL_____________AQIDAA", false),
        ("page token: asOf of -1 (bit pattern)", "cDL___________8BAgMA", true),
    ])
    func pageTokenCorpus(_ name: String, _ text: String, _ decodes: Bool) {
        var v = Violations()
        let decoded = TokenOracle.pageToken(text, &v) != nil
        #expect(decoded == decodes, "\(name)")
        #expect(v.count == 0, "\(v)")
    }

    @Test(arguments: [
        ("v1", "djEuNDIuMTAwMA", true),
        ("v2 with two hot rooms", "djIuNDIuMTAwMC4zOjE3LDk6MA", true),
        ("v1 with Int64.max", "djEuOTIyMzM3MjAzNjg1NDc3NTgwNy45MjIzMzcyMDM2ODU0Nzc1ODA3", true),
        ("v1 with Int64.max + 1", "djEuMS45MjIzMzcyMDM2ODU0Nzc1ODA4", false),
        ("v1 with a leading zero", "djEuMDQyLjE", false),
        ("v1 with a negative user", "djEuLTEuMQ", false),
        ("v1 with a plus sign", "djEuKzEuMQ", false),
        ("v1 with user 0", "djEuMC4x", false),
        ("v1 with an extra part", "djEuMS4xLg", false),
        ("v1 with invalid UTF-8", "djEuMS4x_w", false),
        ("v1 with NUL", "djEuMQAuMQ", false),
        ("v1 with a space", "djEuIDEuMQ", false),
        ("v1 with a full-width digit", "djEu77yRLjE", false),
        ("v2 with rooms out of order", "djIuMS4xLjk6MCwzOjE3", false),
        ("v2 with a room twice", "djIuMS4xLjM6MSwzOjE", false),
        ("v2 without rooms", "djIuMS4xLg", false),
        ("v2 with room 0", "djIuMS4xLjA6MQ", false),
        ("v3", "djMuMS4x", false),
        ("padding", "djEuNDIuMTAwMA==", false),
        ("non-canonical trailing bits", "djEuNDIuMTAwMB", false),
        ("standard base64 alphabet", "djEuMS4x+w", false),
        ("empty", "", false),
        ("8,193 characters", String(repeating: "A", count: 8193), false),
    ])
    func cursorCorpus(_ name: String, _ text: String, _ decodes: Bool) {
        var v = Violations()
        let decoded = TokenOracle.cursor(text, &v) != nil
        #expect(decoded == decodes, "\(name)")
        #expect(v.count == 0, "\(v)")
    }
}
