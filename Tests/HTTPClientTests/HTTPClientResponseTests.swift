@testable import HTTPClient
import Testing

/// Whatever answers on the webhook's address: a status we can act on, or a thrown
/// `malformedResponse` with its reason; never a trap (issue: `Content-Length: -1`
/// trapped the server on `Range requires lowerBound <= upperBound`).
@Suite struct HTTPClientResponseTests {
    static func parse(_ text: String, eof: Bool = true) throws(HTTPClient.ClientError) -> HTTPClient.Response? {
        try HTTPClient.parseResponse(Array(text.utf8), eof: eof)
    }

    static let accepted: [(String, Int, String)] = [
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok"),
        ("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 204, ""),
        ("HTTP/1.0 500 Internal\r\n\r\nboom", 500, "boom"),                       // body to close
        ("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 200, ""),                   // no reason phrase
        ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nx", 202, "x"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, ""),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 200, "ok"),
        ("HTTP/1.1 200 OK\r\ncontent-length:\t3 \r\n\r\nabcdef", 200, "abc"),      // extra bytes ignored
    ]

    @Test(arguments: accepted) func aWellFormedAnswerGivesItsStatus(_ c: (String, Int, String)) throws {
        let r = try #require(try Self.parse(c.0))
        #expect(r.status == c.1)
        #expect(String(decoding: r.body, as: UTF8.self) == c.2)
    }

    static let rejected: [(String, String)] = [
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", "Content-Length over 1 MiB"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "conflicting Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "body shorter than its Content-Length"),
        ("HTTP/1.1 2000 OK\r\n\r\n", "bad status line"),
        ("HTTP/1.1 20 OK\r\n\r\n", "bad status line"),
        ("HTTP/1.1 099 OK\r\n\r\n", "bad status code"),
        ("HTTP/2 200\r\n\r\n", "bad status line"),
        ("SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad status line"),
        ("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
        ("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "bad header line"),
        ("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "bare LF in the head"),
        ("HTTP/1.1 200 OK\rX: y\r\n\r\n", "bare CR in the head"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", "response head not terminated"),
        ("", "empty response"),
    ]

    @Test(arguments: rejected) func aHostileAnswerIsAMalformedResponseWithItsReason(_ c: (String, String)) {
        #expect(throws: HTTPClient.ClientError.malformedResponse(c.1)) { try Self.parse(c.0) }
    }

    @Test func anIncompleteAnswerWaitsForMoreBytes() throws {
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nContent-Len", eof: false) == nil)
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", eof: false) == nil)
        #expect(try Self.parse("HTTP/1.1 200 OK\r\n\r\nbody to close", eof: false) == nil)
        // Every prefix of a good answer is "need more" or the answer itself, never an error.
        let whole = Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        for cut in 0...whole.count {
            let r = try HTTPClient.parseResponse(Array(whole[0..<cut]), eof: false)
            #expect(r == nil || (cut == whole.count && r?.status == 200))
        }
    }

    @Test func aHeadThatNeverEndsIsCutAtOneMebibyte() {
        let endless = Array("HTTP/1.1 200 OK\r\nX: ".utf8) + [UInt8](repeating: 97, count: HTTPClient.maxResponseBytes + 1)
        #expect(throws: HTTPClient.ClientError.malformedResponse("response head over 1 MiB")) {
            try HTTPClient.parseResponse(endless, eof: false)
        }
    }

    /// The event-loop client (the load generator's, the tests') reads heads with the same
    /// parser: names lowercased, values without surrounding whitespace, the same refusals.
    @Test func theLoopClientReadsHeadsAlike() throws {
        let head = try ClientConnection.parseHead(Array("HTTP/1.1 200 OK\r\nContent-Type:  application/json \r\nX-Request-ID:\tab".utf8)[...]).get()
        #expect(head.status == 200)
        #expect(head.headers.map(\.name) == ["content-type", "x-request-id"])
        #expect(head.headers.map(\.value) == ["application/json", "ab"])
        for (bad, why) in [("HTTP/1.1 2000 OK", "bad status line"), ("HTTP/1.1 200 OK\r\nno colon", "bad header line"),
                           ("HTTP/1.1 200 OK\nX: y", "bare LF in the head")] {
            #expect(throws: ClientConnection.Failure.malformed(why)) { try ClientConnection.parseHead(Array(bad.utf8)[...]).get() }
        }
    }
}
