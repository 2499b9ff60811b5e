import JSON
import MutationSupport
import Testing

/// JSON bodies as a hostile client sends them (moved from PigeonholeTests'
/// HostileInputTests, whose live half stays there): thousands of mutated and random
/// inputs from a seeded generator, each a value or a typed error with the `JSONOracle`
/// invariants holding; nesting refused before it recurses; a regression corpus of named
/// cases.
@Suite struct JSONHostileInputTests {
    static let seeds: [String] = [
        #"{"client_msg_id":"m-1","body":{"text":"h\u00e9llo \ud83d\ude00","n":[1,-0.5,2e10,true,false,null]}}"#,
        #"{"name":"room","members":["bob","carol"]}"#,
        #"{"cursor":"djEuNDIuMTAwMA","seq":9223372036854775807}"#,
        #"[[[{"a":{},"b":[]}]]]"#,
        #""\u0000\"\\\/\b\f\n\r\t é""#,
        #"  -0.0e+1  "#,
    ]

    @Test func mutatedAndRandomInput() {
        var rng = SeededRandom(seed: 0x5EED_1001)
        var v = Violations()
        var ok = 0, failed = 0
        let seeds = Self.seeds.map { Array($0.utf8) }
        for i in 0..<4000 {
            let input = i % 10 == 9 ? rng.bytes(rng.below(200)) : Mutation.bytes(rng.pick(seeds), &rng)
            switch JSONOracle.check(input, &v) {
            case .success: ok += 1
            case .failure: failed += 1
            }
        }
        #expect(v.count == 0, "\(v)")
        #expect(ok > 200 && failed > 200, "ok \(ok), failed \(failed)")
    }

    static let deepNesting: [String: String] = [
        "100,000 [": String(repeating: "[", count: 100_000),
        "100,000 [ then ]": String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000),
        "100,000 {\"a\":": String(repeating: #"{"a":"#, count: 100_000),
        "65 nested arrays": String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
        "65 nested objects in a message body": #"{"body":"# + String(repeating: #"{"a":"#, count: 64) + "1" + String(repeating: "}", count: 65),
    ]

    @Test(arguments: deepNesting.keys.sorted())
    func deepNestingIsRefusedNotRecursed(_ name: String) {
        let text = Self.deepNesting[name]!
        #expect(throws: JSONError.self, "\(name)") { try JSONParser.parse(text) }
        do { _ = try JSONParser.parse(text) } catch { #expect(error.reason == .tooDeep, "\(name)") }
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let v = try JSONParser.parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64))
        #expect(JSONOracle.depth(v) == 64)
    }

    @Test(arguments: [
        ("invalid UTF-8 in a string", [0x22, 0xC0, 0xAF, 0x22], JSONError.Reason.invalidUTF8),
        ("UTF-16 surrogate encoded as UTF-8", [0x22, 0xED, 0xA0, 0x80, 0x22], .invalidUTF8),
        ("0xFF outside a string", [0x5B, 0xFF, 0x5D], .unexpectedByte),
        ("lone low surrogate escape", Array(#""\udc00""#.utf8), .invalidEscape),
        ("high surrogate without its pair", Array(#""\ud83dx""#.utf8), .invalidEscape),
        ("NUL byte in a string", [0x22, 0x00, 0x22], .controlCharacter),
        ("number of 257 digits", Array(String(repeating: "9", count: 257).utf8), .invalidNumber),
        ("leading zero", Array("01".utf8), .invalidNumber),
        ("huge exponent is refused, not a trap", Array("1e99999999999999999999 x".utf8), .numberOutOfRange),
        ("number past a double (issue 20, item 10)", Array("[1e999999]".utf8), .numberOutOfRange),
        ("negative number past a double", Array(#"{"n":-1.5e309}"#.utf8), .numberOutOfRange),
        ("duplicate key", Array(#"{"a":1,"a":2}"#.utf8), .duplicateKey),
        ("duplicate key, canonically equivalent", Array("{\"\u{E9}\":1,\"e\u{301}\":2}".utf8), .duplicateKey),
        ("empty input", [], .unexpectedEnd),
        ("truncated literal", Array("tru".utf8), .unexpectedEnd),
    ] as [(String, [UInt8], JSONError.Reason)])
    func corpus(_ name: String, _ bytes: [UInt8], _ reason: JSONError.Reason) {
        var v = Violations()
        switch JSONOracle.check(bytes, &v) {
        case .success(let value): Issue.record("\(name): accepted as \(value.serializedString)")
        case .failure(let e): #expect(e.reason == reason, "\(name)")
        }
        #expect(v.count == 0, "\(v)")
    }

    @Test func longStringsAndNumbersRoundTrip() {
        var v = Violations()
        let long = "\"" + String(repeating: "a\\n\\u00e9", count: 20_000) + "\""
        let string = JSONOracle.check(Array(long.utf8), &v)
        let number = JSONOracle.check(Array(String(repeating: "9", count: 256).utf8), &v)
        #expect((try? string.get()) != nil)
        #expect((try? number.get()) != nil)
        #expect(v.count == 0, "\(v)")
    }
}
