@testable import JSON
import Testing

/// Strings (RFC 8259 §7, §8.1): the escapes, `\u` with surrogate pairs combined and a
/// lone surrogate refused, raw control characters refused, and the bytes valid UTF-8
/// (checked once the string ends: the offset is just past its closing quote).
@Suite struct JSONStringParsingTests {
    @Test(arguments: [
        (#""""#, ""),
        (#""plain""#, "plain"),
        (#""\"\\\/""#, "\"\\/"),
        (#""\b\f\n\r\t""#, "\u{08}\u{0C}\n\r\t"),
        (#""\u0041\u00e9\u00E9""#, "Aéé"),
        (#""\u0000""#, "\u{0}"),
        (#""\u001f\u007f""#, "\u{1F}\u{7F}"),
        (#""\u2603""#, "☃"),
        (#""\ud83d\ude00""#, "😀"),
        (#""\uD83D\uDE00""#, "😀"),
        (#""\udbff\udfff""#, "\u{10FFFF}"),
        (#""\ud800\udc00""#, "\u{10000}"),
        ("\"\u{7F}\"", "\u{7F}"),   // DEL is not a control character in JSON
        ("\"é☃🐦\"", "é☃🐦"),
    ])
    func accepted(_ text: String, _ expected: String) throws {
        #expect(try JSONParser.parse(text) == .string(expected))
    }

    /// (input, reason, offset)
    @Test(arguments: [
        (#""abc"#, JSONError.Reason.unexpectedEnd, 4),
        (#""\"#, .unexpectedEnd, 2),
        (#""\x""#, .invalidEscape, 3),
        (#""\'""#, .invalidEscape, 3),
        (#""\U0041""#, .invalidEscape, 3),
        (#""\u12""#, .unexpectedEnd, 3),
        (#""\u12G4""#, .invalidEscape, 5),
        (#""\u-123""#, .invalidEscape, 3),
        // Lone surrogates: a high one without its low one, a low one alone, a high one
        // followed by anything but a low one.
        (#""\ud800""#, .invalidEscape, 7),
        (#""\ud800x""#, .invalidEscape, 7),
        (#""\udc00""#, .invalidEscape, 7),
        (#""\udfff\ud800""#, .invalidEscape, 7),
        (#""\ud800\u0041""#, .invalidEscape, 13),
        (#""\ud800\ud800""#, .invalidEscape, 13),
        (#""\ud800\n""#, .invalidEscape, 7),
        // Raw control characters must be escaped.
        ("\"a\u{0}b\"", .controlCharacter, 2),
        ("\"a\tb\"", .controlCharacter, 2),
        ("\"a\nb\"", .controlCharacter, 2),
        ("\"\u{1F}\"", .controlCharacter, 1),
    ] as [(String, JSONError.Reason, Int)])
    func refused(_ text: String, _ reason: JSONError.Reason, _ offset: Int) {
        #expect(throws: JSONError(reason: reason, offset: offset), "\(text)") { try JSONParser.parse(text) }
    }

    /// Invalid UTF-8 inside a string, as bytes: refused just past the closing quote.
    @Test(arguments: [
        ("overlong 2-byte slash", [0xC0, 0xAF]),
        ("overlong 3-byte", [0xE0, 0x80, 0xAF]),
        ("overlong 4-byte", [0xF0, 0x80, 0x80, 0xAF]),
        ("UTF-16 surrogate encoded as UTF-8", [0xED, 0xA0, 0x80]),
        ("above U+10FFFF", [0xF4, 0x90, 0x80, 0x80]),
        ("5-byte form", [0xF8, 0x88, 0x80, 0x80, 0x80]),
        ("0xFE", [0xFE]),
        ("0xFF", [0xFF]),
        ("lone continuation byte", [0x80]),
        ("truncated 3-byte sequence", [0xE2, 0x82]),
        ("lead byte then ASCII", [0xC3, 0x41]),
    ] as [(String, [UInt8])])
    func invalidUTF8(_ name: String, _ inner: [UInt8]) {
        let bytes = [0x22] + inner + [0x22]
        #expect(throws: JSONError(reason: .invalidUTF8, offset: bytes.count), "\(name)") { try JSONParser.parse(bytes) }
        // As a key too.
        let key = Array("{".utf8) + bytes + Array(":1}".utf8)
        #expect(throws: JSONError(reason: .invalidUTF8, offset: 1 + bytes.count), "\(name) as a key") { try JSONParser.parse(key) }
    }

    @Test(arguments: [
        [0xC3, 0xA9],               // é
        [0xE2, 0x98, 0x83],         // ☃
        [0xEF, 0xBF, 0xBF],         // U+FFFF, a noncharacter, still a scalar
        [0xF0, 0x9F, 0x90, 0xA6],   // 🐦
        [0xF4, 0x8F, 0xBF, 0xBF],   // U+10FFFF
    ] as [[UInt8]])
    func validUTF8(_ inner: [UInt8]) throws {
        let value = try JSONParser.parse([0x22] + inner + [0x22])
        #expect(value.stringValue.map { Array($0.utf8) } == inner)
    }

    /// Outside a string a non-ASCII byte is never a value's start.
    @Test func invalidBytesOutsideStrings() {
        #expect(throws: JSONError(reason: .unexpectedByte, offset: 1)) { try JSONParser.parse([0x5B, 0xFF, 0x5D]) }
        #expect(throws: JSONError(reason: .unexpectedByte, offset: 0)) { try JSONParser.parse([0xC3, 0xA9]) }
    }
}
