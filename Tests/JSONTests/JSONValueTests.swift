import JSON
import Testing

/// The value tree: literals, accessors, equality (member order counts: it is kept), and
/// round trips both ways: text to value to text is the identity for compact canonical
/// text, and value to text to value for any value.
@Suite struct JSONValueTests {
    @Test func literalsBuildTheValues() {
        let v: JSONValue = ["s": "x", "i": 3, "b": true, "n": nil, "a": [1, "2"]]
        #expect(v == .object([("s", .string("x")), ("i", .number("3")), ("b", .bool(true)), ("n", .null),
                              ("a", .array([.number("1"), .string("2")]))]))
    }

    @Test func accessorsAnswerOnlyForTheirKind() {
        let v: JSONValue = ["s": "x", "i": 3, "b": true, "n": nil, "a": [1]]
        #expect(v["s"]?.stringValue == "x")
        #expect(v["i"]?.intValue == 3)
        #expect(v["b"]?.boolValue == true)
        #expect(v["n"]?.isNull == true)
        #expect(v["a"]?.arrayValue == [1])
        #expect(v["missing"] == nil)
        #expect(v["s"]?.intValue == nil && v["i"]?.stringValue == nil && v["b"]?.arrayValue == nil && v["a"]?.boolValue == nil)
        #expect(JSONValue.array([1])["s"] == nil)
    }

    @Test func equalityKeepsOrderAndKind() {
        #expect(JSONValue.object([("a", 1), ("b", 2)]) != .object([("b", 2), ("a", 1)]))
        #expect(JSONValue.object([("a", 1)]) != .object([("a", 1), ("b", 2)]))
        #expect(JSONValue.number("1") != .number("1.0"))   // the text is the value
        #expect(JSONValue.string("1") != .number("1"))
        #expect(JSONValue.null != .bool(false))
        #expect(JSONValue.array([]) != .object([]))
    }

    /// Compact canonical text survives parse then serialize byte for byte.
    @Test(arguments: [
        "null", "true", "[]", "{}", "-0", "1.10", "1E+2", "12345678901234567890123",
        #""\"\\\n\r\t\u0000\u001f""#,
        #""é☃🐦/\u0008\u000c""#,
        #"{"b":1,"a":[true,false,null,{"":""}]}"#,
        #"[[[[[[[[[[1]]]]]]]]]]"#,
    ])
    func textRoundTrips(_ text: String) throws {
        #expect(try JSONParser.parse(text).serializedString == text)
    }

    /// Any string (every ASCII character included) written and read back is itself.
    @Test func everyCharacterRoundTrips() throws {
        let ascii = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        for s in [ascii, "é\u{301}", "\u{FEFF}", "\u{2028}\u{2029}", "\u{10FFFF}", "🐦" + ascii + "🐦"] {
            let value: JSONValue = ["k": .string(s), s: .array([.string(s)])]
            let text = value.serialized()
            #expect(!text.contains { $0 < 0x20 }, "a raw control byte written")
            #expect(try JSONParser.parse(text) == value)
        }
    }
}
