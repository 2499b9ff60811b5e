import Testing
@testable import HTTPServer

struct ChunkedDecoderTests {
    enum Expected: Equatable {
        case body(String, consumed: Int)
        case error(HTTPParseError)
        case incomplete
    }

    static let cases: [(String, String, Expected)] = [
        ("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", .body("hello world", consumed: 26)),
        ("hex sizes", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", .body("0123456789abcdefghij", consumed: 35)),
        ("extension", "5;name=value\r\nhello\r\n0\r\n\r\n", .body("hello", consumed: 26)),
        ("BWS before extension", "5 ;x\r\nhello\r\n0\r\n\r\n", .body("hello", consumed: 18)),
        ("trailers", "5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", .body("hello", consumed: 31)),
        ("pipelined bytes after body stay", "1\r\na\r\n0\r\n\r\nGET", .body("a", consumed: 11)),
        ("leading zeros in last chunk", "000\r\n\r\n", .body("", consumed: 7)),
        ("incomplete", "5\r\nhel", .incomplete),
        ("no digits", "\r\nhello\r\n", .error(.invalidChunkSize)),
        ("negative", "-5\r\nhello\r\n0\r\n\r\n", .error(.invalidChunkSize)),
        ("huge size overflows", "fffffffffffffffff\r\n", .error(.invalidChunkSize)),
        ("space inside size", "5 5\r\n", .error(.invalidChunkSize)),
        ("data longer than size", "3\r\nhello\r\n0\r\n\r\n", .error(.invalidChunkFraming)),
        ("bare LF after size", "5\nhello\r\n0\r\n\r\n", .error(.invalidChunkSize)),
        ("bare LF after data", "5\r\nhello\n0\r\n\r\n", .error(.invalidChunkFraming)),
        ("over body limit", "41\r\n" + String(repeating: "x", count: 65) + "\r\n0\r\n\r\n", .error(.bodyTooLarge)),
    ]

    func run(_ text: String, feedSizes: [Int]) -> Expected {
        var decoder = ChunkedDecoder(maxBodyBytes: 64)
        let bytes = Array(text.utf8)
        var body: [UInt8] = []
        var offset = 0
        var sizes = feedSizes
        while offset < bytes.count {
            let n = sizes.isEmpty ? bytes.count - offset : min(sizes.removeFirst(), bytes.count - offset)
            do {
                let used = try bytes[offset..<(offset + n)].withUnsafeBufferPointer { try decoder.feed($0, into: &body) }
                if decoder.isDone { return .body(String(decoding: body, as: UTF8.self), consumed: offset + used) }
                offset += n
            } catch let e as HTTPParseError {
                return .error(e)
            } catch {
                return .incomplete
            }
        }
        return .incomplete
    }

    @Test(arguments: cases.indices)
    func wholeSplitAndByteAtATimeAgree(_ index: Int) {
        let (name, text, expected) = Self.cases[index]
        #expect(run(text, feedSizes: []) == expected, "whole: \(name)")
        for split in 1..<text.utf8.count {
            #expect(run(text, feedSizes: [split]) == expected, "split at \(split): \(name)")
        }
        #expect(run(text, feedSizes: Array(repeating: 1, count: text.utf8.count)) == expected, "byte at a time: \(name)")
    }
}
