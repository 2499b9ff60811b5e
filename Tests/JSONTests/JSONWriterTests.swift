import JSON
import Testing

/// The streaming writer: commas and colons placed by itself in any nesting, numbers
/// written without String, raw JSON copied as is, and what it writes parses back to what
/// was meant (the same bytes as the document built as a `JSONValue` and written by
/// `value`, which is `JSONValue.serialized()`).
@Suite struct JSONWriterTests {
    @Test func commasAndColonsInAnyNesting() {
        var w = JSONWriter()
        w.object { w in
            w.field("a", 1)
            w.key("b")
            w.array { w in
                w.int(1)
                w.array { _ in }
                w.object { w in w.field("c", true) }
                w.null()
                w.string("x")
            }
            w.field("d", optional: nil)
            w.field("e", optional: "f")
            w.key("g"); w.object { _ in }
        }
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"a":1,"b":[1,[],{"c":true},null,"x"],"d":null,"e":"f","g":{}}"#)
    }

    @Test func topLevelValuesAndEmptyContainers() {
        var a = JSONWriter()
        a.array { _ in }
        #expect(a.bytes == Array("[]".utf8))
        var s = JSONWriter()
        s.string("only")
        #expect(s.bytes == Array(#""only""#.utf8))
    }

    @Test(arguments: [
        (Int64(0), "0"),
        (7, "7"),
        (-7, "-7"),
        (10, "10"),
        (1_000_000, "1000000"),
        (Int64.max, "9223372036854775807"),
        (Int64.min, "-9223372036854775808"),
        (Int64.min + 1, "-9223372036854775807"),
    ])
    func integers(_ value: Int64, _ text: String) throws {
        var w = JSONWriter()
        w.int(value)
        #expect(String(decoding: w.bytes, as: UTF8.self) == text)
        #expect(try JSONParser.parse(w.bytes).int64Value == value)
    }

    /// Raw JSON (a stored message body, a timestamp written in place) is inserted as is,
    /// with the separators around it.
    @Test func rawValuesAreCopiedAsIs() {
        var w = JSONWriter()
        w.array { w in
            w.raw(#"{"text":"hé","n":[1.10]}"#)
            w.raw(maxBytes: 30) { out in
                let t = Array(#""2026-11-23T05:17:48.123Z""#.utf8)
                for (i, b) in t.enumerated() { out[i] = b }
                return t.count
            }
            w.raw(Array(#"{"e":1}"#.utf8))
            w.value(["k": [1, "two", nil, false]])
        }
        #expect(String(decoding: w.bytes, as: UTF8.self)
            == #"[{"text":"hé","n":[1.10]},"2026-11-23T05:17:48.123Z",{"e":1},{"k":[1,"two",null,false]}]"#)
    }

    /// The writer's buffer grows from its initial capacity as often as needed, keeping
    /// what was written; commas stay right at any depth, closing a container and going on
    /// in the one around it.
    @Test func growsAndNestsDeeply() throws {
        var w = JSONWriter(capacity: 1)
        let long = String(repeating: "é\"\n", count: 5_000)
        func nest(_ w: inout JSONWriter, _ level: Int) {
            w.array { w in
                w.int(level)
                if level < 100 { nest(&w, level + 1) }
                w.string(long.prefix(level).description)
            }
        }
        w.object { w in
            w.field("long", long)
            w.key("deep"); nest(&w, 1)
            w.field("after", true)
        }
        var deep: JSONValue = .array([.int(100), .string(String(long.prefix(100)))])
        for level in stride(from: 99, through: 1, by: -1) {
            deep = .array([.int(level), deep, .string(String(long.prefix(level)))])
        }
        let tree: JSONValue = .object([("long", .string(long)), ("deep", deep), ("after", .bool(true))])
        #expect(w.bytes == tree.serialized())
        #expect(try JSONParser.parse(w.bytes, maxDepth: 200) == tree)
    }

    /// Every way of writing at the buffer's end grows it first: from a capacity of one,
    /// thousands of numbers, keys, strings, raw texts and in-place writes (`raw(maxBytes:)`
    /// filling all it reserved) come out whole and in order.
    @Test func everyWriteGrowsTheBufferFirst() throws {
        var w = JSONWriter(capacity: 1)
        var tree: [JSONValue] = []
        w.array { w in
            for i in 0..<2_000 {
                let n = i % 2 == 0 ? Int64.min + Int64(i) : Int64.max - Int64(i)
                w.int(n)
                tree.append(.number(String(n)))
                w.raw(maxBytes: 40) { out in
                    for k in 0..<40 { out[k] = k == 0 || k == 39 ? UInt8(ascii: "\"") : UInt8(ascii: "a") + UInt8(k % 26) }
                    return 40
                }
                tree.append(.string(String(decoding: (1..<39).map { UInt8(ascii: "a") + UInt8($0 % 26) }, as: UTF8.self)))
                w.object { w in w.field("k", "v\"\(i)"); w.key(text: "é\(i)"); w.raw("[\(i)]") }
                tree.append(.object([("k", .string("v\"\(i)")), ("é\(i)", .array([.number(String(i))]))]))
                w.raw(Array("true".utf8))
                tree.append(.bool(true))
            }
        }
        #expect(w.bytes == JSONValue.array(tree).serialized())
        #expect(try JSONParser.parse(w.bytes) == .array(tree))
    }

    /// Keys from data are escaped like strings (the program's own keys, `StaticString`s,
    /// are written as they are).
    @Test func keysFromDataAreEscaped() throws {
        var w = JSONWriter()
        w.object { w in w.key(text: "a\"b\n\u{1}"); w.string("v") }
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"a\"b\n\u0001":"v"}"#)
        #expect(try JSONParser.parse(w.bytes)["a\"b\n\u{1}"] == .string("v"))
    }

    /// Explicit calls and the same document as a tree written by `value` give the same bytes.
    @Test func theWriterAndTheTreeAgree() throws {
        let tree: JSONValue = ["id": 9, "name": "r\u{0}☃", "members": ["a", "b"], "hot": false, "gone": nil, "body": ["x": []]]
        var w = JSONWriter()
        w.object { w in
            w.field("id", Int64(9))
            w.field("name", "r\u{0}☃")
            w.key("members"); w.array { w in w.string("a"); w.string("b") }
            w.field("hot", false)
            w.key("gone"); w.null()
            w.key("body"); w.object { w in w.key("x"); w.array { _ in } }
        }
        #expect(w.bytes == tree.serialized())
        #expect(try JSONParser.parse(w.bytes) == tree)
    }
}
