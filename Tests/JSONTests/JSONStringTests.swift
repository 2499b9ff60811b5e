import JSON
import Testing

/// The one JSON string writer (`JSONWriter`: responses, errors, serialized values):
/// escapes exactly `"`, `\` and control characters, copies everything else (UTF-8
/// included) as is, wherever the escapes fall in the string.
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
        var w = JSONWriter()
        w.string(input)
        let out = w.bytes
        #expect(String(decoding: out, as: UTF8.self) == expected)
        #expect(try JSONParser.parse(out) == .string(input))
    }

    /// Every ASCII character alone: exactly `"`, `\` and U+0000-U+001F are escaped (the
    /// three common controls by name, the others as `\u00xx` in lowercase hex); DEL, `/`
    /// and everything else are copied.
    @Test func eachASCIICharacter() throws {
        let hex = Array("0123456789abcdef")
        for b in UInt8(0)..<0x80 {
            let expected: String
            switch b {
            case 0x22: expected = #"\""#
            case 0x5C: expected = #"\\"#
            case 0x0A: expected = #"\n"#
            case 0x0D: expected = #"\r"#
            case 0x09: expected = #"\t"#
            case 0..<0x20: expected = "\\u00" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 0xF)])
            default: expected = String(UnicodeScalar(b))
            }
            var w = JSONWriter()
            w.string(String(UnicodeScalar(b)))
            let out = w.bytes
            #expect(String(decoding: out, as: UTF8.self) == "\"" + expected + "\"", "byte \(b)")
            #expect(try JSONParser.parse(out) == .string(String(UnicodeScalar(b))), "byte \(b)")
        }
    }
}
