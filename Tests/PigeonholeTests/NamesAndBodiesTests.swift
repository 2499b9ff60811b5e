import JSON
import Testing

/// Issue 13, item 12: name limits counted grapheme clusters (a 40 KB room name of one
/// `e` and 20,000 combining accents was accepted), names could carry C1 controls and
/// bidi overrides, an idempotent resend compared bodies by canonical equivalence, and
/// `application/jsonx` was taken for JSON.
@Suite(.timeLimit(.minutes(3)))
struct NamesAndBodiesTests {
    static let accent = "\u{301}"

    static let badNames: [(String, String)] = [
        ("e" + String(repeating: accent, count: 20_000), "one Character, 20,001 code points"),
        (String(repeating: "é", count: 129), "129 code points"),
        ("pay\u{202E}gpj.exe", "right-to-left override"),
        ("a\u{2066}b", "left-to-right isolate"),
        ("next\u{85}line", "C1 control NEL"),
        ("bell\u{7}", "C0 control"),
        ("del\u{7F}", "DEL"),
        ("", "empty"),
        ("   ", "only spaces (issue 20, item 11)"),
        ("\u{200B}\u{200B}", "only zero-width spaces"),
        ("\u{3000}\u{2028}\u{FEFF}", "ideographic space, line separator, BOM"),
        ("\u{3164}", "Hangul filler"),
        (" \u{200D}\u{FE0F} ", "joiner and variation selector between spaces"),
    ]

    @Test(arguments: badNames) func aBadRoomNameIsRefused(_ c: (String, String)) throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            expectError(try alice.post("/v1/rooms", ["name": .string(c.0), "members": ["bob"]]), 400, "invalid_request")
            #expect(try alice.get("/v1/conversations").json["conversations"]?.arrayValue?.isEmpty == true, "\(c.1)")
        }
    }

    @Test func namesAreLimitedByCodePointsNotByBytesOfCharacters() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            // 128 precomposed é (256 bytes) is a valid room name; emoji (4 bytes) too.
            let full = String(repeating: "é", count: 128)
            let r = try alice.post("/v1/rooms", ["name": .string(full), "members": ["bob"]])
            #expect(r.status == 201, "\(r.text)")
            #expect(try alice.post("/v1/rooms", ["name": .string(String(repeating: "🐦", count: 128)), "members": ["bob"]]).status == 201)
            // Names with spaces around visible text are names.
            #expect(try alice.post("/v1/rooms", ["name": "  team \u{200B}", "members": ["bob"]]).status == 201)
            // A right-to-left mark (not an override) is ordinary text.
            #expect(try alice.post("/v1/rooms", ["name": "שלום\u{200F}", "members": ["bob"]]).status == 201)

            let device = "/v1/admin/users/alice/devices"
            #expect(try server.admin.post(device, json: ["name": .string(String(repeating: "é", count: 64))],
                                          token: TestServer.adminToken).status == 201)
            for bad in [String(repeating: "é", count: 65), "e" + String(repeating: Self.accent, count: 64), "ph\u{202E}one"] {
                expectError(try server.admin.post(device, json: ["name": .string(bad)], token: TestServer.adminToken),
                            400, "invalid_request")
            }
        }
    }

    @Test func aCanonicallyEquivalentButDifferentBodyIsAConflictNotADuplicate() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
            #expect(composed == decomposed)   // Swift's String ==: canonical equivalence
            let first = try alice.send(room, "m1", composed)
            #expect(first.status == 201)
            // The same bytes again: the original message.
            let again = try alice.send(room, "m1", composed)
            #expect(again.status == 200)
            #expect(again.json["id"] == first.json["id"])
            // Other bytes under the same client_msg_id: a conflict, not a silent duplicate.
            expectError(try alice.send(room, "m1", decomposed), 409, "idempotency_conflict")
            let history = try alice.get("/v1/rooms/\(room)/messages").json["messages"]?.arrayValue ?? []
            #expect(history.count == 1)
            #expect(history.first?["body"]?["text"]?.stringValue.map { Array($0.unicodeScalars) } == Array(composed.unicodeScalars))
        }
    }

    static let mediaTypes: [(String, Int)] = [
        ("application/json", 201), ("application/json; charset=utf-8", 201), ("Application/JSON ;charset=UTF-8", 201),
        ("text/plain", 201), ("application/x-www-form-urlencoded", 201),
        ("application/jsonx", 415), ("application/json-patch+json", 415), ("text/plainly", 415),
        ("application/x-www-form-urlencodedx", 415), ("multipart/form-data; boundary=x", 415), ("", 415),
    ]

    @Test(arguments: mediaTypes) func mediaTypesAreMatchedExactly(_ c: (String, Int)) throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let body = Array(#"{"client_msg_id":"m1","body":{"text":"hi"}}"#.utf8)
            let r = try alice.client.request("POST", "/v1/rooms/\(room)/messages", token: alice.token, body: body, contentType: c.0)
            #expect(r.status == c.1, "\(c.0): \(r.text)")
            if c.1 == 415 { #expect(r.errorCode == "unsupported_media_type") }
        }
    }
}
