@testable import JSON
import Testing

/// The parser's structure, byte table by byte table: what it accepts (and the value it
/// gives, member order kept), and what it refuses with which reason at which byte.
/// Numbers and strings have tables of their own (`JSONNumberTests`, `JSONStringParsingTests`).
@Suite struct JSONParserTests {
    @Test(arguments: [
        ("null", JSONValue.null),
        ("true", .bool(true)),
        ("false", .bool(false)),
        ("[]", .array([])),
        ("{}", .object([])),
        (" \t\r\n[ 1 , { \"a\" : null } ]\n", .array([.number("1"), .object([("a", .null)])])),
        (#"{"b":1,"a":2}"#, .object([("b", .number("1")), ("a", .number("2"))])),   // order kept
        (#"[{"a":1},{"a":2}]"#, .array([.object([("a", .number("1"))]), .object([("a", .number("2"))])])),
        (#"{"":[[],{}]}"#, .object([("", .array([.array([]), .object([])]))])),
    ])
    func accepted(_ text: String, _ value: JSONValue) throws {
        #expect(try JSONParser.parse(text) == value)
    }

    /// (input, reason, offset): the offset is where the parser stood when it gave up.
    @Test(arguments: [
        ("", JSONError.Reason.unexpectedEnd, 0),
        ("   ", .unexpectedEnd, 3),
        ("{", .unexpectedEnd, 1),
        ("[", .unexpectedEnd, 1),
        ("[1,", .unexpectedEnd, 3),
        (#"{"a":"#, .unexpectedEnd, 5),
        ("[1 2]", .unexpectedByte, 3),
        ("[1,]", .unexpectedByte, 3),
        ("[,1]", .unexpectedByte, 1),
        (#"{"a"}"#, .unexpectedByte, 4),
        (#"{"a":1,}"#, .unexpectedByte, 7),
        (#"{"a":1 "b":2}"#, .unexpectedByte, 7),
        ("{a:1}", .unexpectedByte, 1),
        ("{'a':1}", .unexpectedByte, 1),
        ("nul", .unexpectedEnd, 0),
        ("nulL", .unexpectedByte, 0),
        ("True", .unexpectedByte, 0),
        ("undefined", .unexpectedByte, 0),
        ("/* comment */ 1", .unexpectedByte, 0),
        // Only space, tab, LF and CR are whitespace (RFC 8259 §2): not VT, FF, NBSP or a BOM.
        ("\u{0B}1", .unexpectedByte, 0),
        ("\u{0C}1", .unexpectedByte, 0),
        ("\u{A0}1", .unexpectedByte, 0),
        ("\u{FEFF}1", .unexpectedByte, 0),
    ] as [(String, JSONError.Reason, Int)])
    func refused(_ text: String, _ reason: JSONError.Reason, _ offset: Int) {
        #expect(throws: JSONError(reason: reason, offset: offset), "\(text)") { try JSONParser.parse(text) }
    }

    /// One value, then only whitespace: anything after it is refused where it starts.
    @Test(arguments: [
        ("{} x", 3),
        ("1 2", 2),
        ("[]]", 2),
        ("true false", 5),
        ("null\u{0}", 4),
        (#""a""b""#, 3),
        ("{}\n\n,", 4),
    ])
    func trailingData(_ text: String, _ offset: Int) {
        #expect(throws: JSONError(reason: .trailingData, offset: offset), "\(text)") { try JSONParser.parse(text) }
    }

    /// Duplicate keys are refused at the second key (two readers can never disagree on
    /// which value a body gave); the same key in sibling objects is not a duplicate.
    @Test(arguments: [
        (#"{"a":1,"a":2}"#, 7),
        (#"{"a":1,"b":2,"a":3}"#, 13),
        (#"{"x":{"a":1,"a":2}}"#, 12),
        (#"[{"k":[]},{"k":{},"k":0}]"#, 18),
        (#"{"\u0061":1,"a":2}"#, 12),   // the same key once unescaped
    ])
    func duplicateKeys(_ text: String, _ offset: Int) {
        #expect(throws: JSONError(reason: .duplicateKey, offset: offset), "\(text)") { try JSONParser.parse(text) }
    }

    /// `maxDepth` counts open arrays and objects; the next one is refused where it opens.
    @Test(arguments: [
        ("1", 0, nil),
        ("[]", 0, 0),
        ("[[1]]", 2, nil),
        ("[[[1]]]", 2, 2),
        (#"{"a":{"b":1}}"#, 2, nil),
        (#"{"a":{"b":{}}}"#, 2, 10),
        (#"[{"a":[]}]"#, 3, nil),
        (#"[{"a":[[]]}]"#, 3, 7),
    ] as [(String, Int, Int?)])
    func depthBound(_ text: String, _ maxDepth: Int, _ refusedAt: Int?) {
        if let refusedAt {
            #expect(throws: JSONError(reason: .tooDeep, offset: refusedAt)) { try JSONParser.parse(text, maxDepth: maxDepth) }
        } else {
            #expect((try? JSONParser.parse(text, maxDepth: maxDepth)) != nil)
        }
    }

    /// Every proper prefix of a document is refused (never taken for a shorter value),
    /// with an offset inside it.
    @Test(arguments: [
        #"{"a":[1,"x\u00e9",true,null,{"b":-2.5e+3}]}"#,
        #"["\ud83d\ude00", false]"#,
    ])
    func everyProperPrefixIsRefused(_ text: String) {
        let bytes = Array(text.utf8)
        #expect((try? JSONParser.parse(bytes)) != nil)
        for n in 0..<bytes.count {
            do {
                let v = try JSONParser.parse(Array(bytes[..<n]))
                Issue.record("prefix of \(n) bytes accepted as \(v.serializedString)")
            } catch {
                #expect(error.offset <= n, "prefix of \(n) bytes: \(error)")
            }
        }
    }

    @Test func theErrorSaysWhatAndWhere() {
        #expect(JSONError(reason: .duplicateKey, offset: 7).description == "duplicate object key at byte 7")
        #expect(JSONError(reason: .trailingData, offset: 3).description == "unexpected data after the JSON value at byte 3")
    }
}
