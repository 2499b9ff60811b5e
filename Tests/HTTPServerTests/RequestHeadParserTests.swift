import Testing
@testable import HTTPServer

/// Byte tables in the style of picohttpparser's tests: every case is parsed whole,
/// split at every offset, and one byte at a time, and all deliveries must agree.
struct RequestHeadParserTests {
    enum Expected: Equatable {
        case head(method: String, path: String, query: String?, headerCount: Int, consumed: Int)
        case error(HTTPParseError)
        case incomplete
    }

    static let cases: [(String, String, Expected)] = [
        ("simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
         .head(method: "GET", path: "/", query: nil, headerCount: 1, consumed: 27)),
        ("query and headers", "POST /v1/rooms/7/messages?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX-Y:  z  \r\n\r\n",
         .head(method: "POST", path: "/v1/rooms/7/messages", query: "x=1&y=%20", headerCount: 3, consumed: 87)),
        ("HTTP/1.0 needs no Host", "GET /a HTTP/1.0\r\n\r\n",
         .head(method: "GET", path: "/a", query: nil, headerCount: 0, consumed: 19)),
        ("leading empty line ignored", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
         .head(method: "GET", path: "/", query: nil, headerCount: 1, consumed: 29)),
        ("absolute-form", "GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
         .head(method: "GET", path: "/p", query: "q=1", headerCount: 1, consumed: 60)),
        ("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
         .head(method: "OPTIONS", path: "*", query: nil, headerCount: 1, consumed: 31)),
        ("incomplete", "GET / HTTP/1.1\r\nHost: a\r\n", .incomplete),
        ("bare LF", "GET / HTTP/1.1\nHost: a\n\n", .error(.bareLineFeed)),
        ("bare LF in headers", "GET / HTTP/1.1\r\nHost: a\n\r\n", .error(.bareLineFeed)),
        ("CR without LF", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", .error(.malformedHeader)),
        ("missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", .error(.missingHost)),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .error(.missingHost)),
        ("two Authorizations", "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nauthorization: Bearer y\r\n\r\n",
         .error(.repeatedField)),
        ("two WebSocket keys", "GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Key: b\r\n\r\n",
         .error(.repeatedField)),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", .error(.obsoleteLineFolding)),
        ("space before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", .error(.malformedHeader)),
        ("empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", .error(.malformedHeader)),
        ("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n", .error(.malformedHeader)),
        ("double space in request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .error(.malformedRequestLine)),
        ("bad method char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", .error(.malformedRequestLine)),
        ("relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", .error(.invalidTarget)),
        ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .error(.unsupportedVersion)),
        ("garbage version", "GET / HTXP/1.1\r\nHost: a\r\n\r\n", .error(.malformedRequestLine)),
        ("no version", "GET /\r\n\r\n", .error(.malformedRequestLine)),
    ]

    func run(_ text: String, feedSizes: [Int]) -> Expected {
        var parser = RequestHeadParser(maxHeaderBytes: 1024)
        let bytes = Array(text.utf8)
        var delivered = 0
        for size in feedSizes + [bytes.count] {
            delivered = min(bytes.count, delivered + size)
            do {
                let outcome = try bytes[0..<delivered].withUnsafeBufferPointer { try parser.parse($0) }
                if case .head(let h, let consumed) = outcome {
                    return .head(method: h.method.rawValue, path: h.path, query: h.query, headerCount: h.headers.count, consumed: consumed)
                }
            } catch let e as HTTPParseError {
                return .error(e)
            } catch {
                Issue.record("unexpected error \(error)")
            }
            if delivered == bytes.count { break }
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

    @Test func headerValuesAreTrimmedAndNamesLowercased() throws {
        var parser = RequestHeadParser()
        let bytes = Array("GET / HTTP/1.1\r\nHost: a\r\nX-Thing: \t spaced value \t\r\n\r\n".utf8)
        guard case .head(let head, _) = try bytes.withUnsafeBufferPointer({ try parser.parse($0) }) else {
            Issue.record("no head")
            return
        }
        #expect(head.headers["x-thing"] == "spaced value")
        #expect(head.headers.fields.map(\.name) == ["host", "x-thing"])
    }

    @Test func headerBlockOverLimitIs431EvenWithoutTerminator() {
        var parser = RequestHeadParser(maxHeaderBytes: 64)
        let bytes = Array(("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 100)).utf8)
        #expect(throws: HTTPParseError.headerTooLarge) { try bytes.withUnsafeBufferPointer { try parser.parse($0) } }
    }

    @Test func tooManyHeaders() {
        var parser = RequestHeadParser(maxHeaderBytes: 100_000, maxHeaderCount: 10)
        let text = "GET / HTTP/1.1\r\nHost: a\r\n" + (0..<20).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        let bytes = Array(text.utf8)
        #expect(throws: HTTPParseError.tooManyHeaders) { try bytes.withUnsafeBufferPointer { try parser.parse($0) } }
    }

    @Test(arguments: [
        ("Content-Length: 5", BodyFraming.length(5)),
        ("Content-Length: 0", BodyFraming.none),
        ("Content-Length: 007", BodyFraming.length(7)),
        ("Content-Length: 5\r\nContent-Length: 5", BodyFraming.length(5)),
        ("Content-Length: 5, 5", BodyFraming.length(5)),
        ("Transfer-Encoding: chunked", BodyFraming.chunked),
        ("Transfer-Encoding: Chunked", BodyFraming.chunked),
        ("X: y", BodyFraming.none),
    ])
    func bodyFraming(_ header: String, _ expected: BodyFraming) throws {
        #expect(try BodyFraming.of(head(header)) == expected)
    }

    @Test(arguments: [
        ("Content-Length: 5\r\nContent-Length: 6", HTTPParseError.conflictingContentLength),
        ("Content-Length: 5, 6", .conflictingContentLength),
        ("Content-Length: -1", .invalidContentLength),
        ("Content-Length: +5", .invalidContentLength),
        ("Content-Length: 0x10", .invalidContentLength),
        ("Content-Length: 99999999999999999999999", .invalidContentLength),
        ("Content-Length: ", .invalidContentLength),
        ("Content-Length: 5\r\nTransfer-Encoding: chunked", .contentLengthWithTransferEncoding),
        ("Transfer-Encoding: gzip, chunked", .unsupportedTransferEncoding),
        ("Transfer-Encoding: chunked, chunked", .unsupportedTransferEncoding),
        ("Transfer-Encoding: identity", .unsupportedTransferEncoding),
    ])
    func bodyFramingErrors(_ header: String, _ expected: HTTPParseError) throws {
        let h = try head(header)
        #expect(throws: expected) { try BodyFraming.of(h) }
    }

    private func head(_ extra: String) throws -> HTTPRequestHead {
        var parser = RequestHeadParser()
        let bytes = Array("POST / HTTP/1.1\r\nHost: a\r\n\(extra)\r\n\r\n".utf8)
        guard case .head(let h, _) = try bytes.withUnsafeBufferPointer({ try parser.parse($0) }) else {
            throw HTTPParseError.malformedHeader
        }
        return h
    }
}
