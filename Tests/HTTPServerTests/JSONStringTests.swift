import JSON
import Testing

/// The one JSON string writer (responses, errors, bodies): escapes exactly `"`, `\`
/// and control characters, copies everything else (UTF-8 included) as is, wherever
/// the escapes fall in the string.
@Suite struct JSONStringTests {
    @Test(arguments: [
        ("", #""""#),
        ("plain", #""plain""#),
        ("a\"b\\c", #""a\"b\\c""#),
        ("\"", #""\"""#),
        ("line\nbreak\r\ttab", #""line\nbreak\r\ttab""#),
        ("\u{01}x\u{1F}", #""\u0001x\u001f""#),
        ("héllo ☃ 🐦", "\"héllo ☃ 🐦\""),
        ("end\\", #""end\\""#),
    ])
    func escapes(_ input: String, _ expected: String) throws {
        var out: [UInt8] = []
        JSONValue.appendString(input, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == expected)
        #expect(try JSONParser.parse(out) == .string(input))
    }
}
