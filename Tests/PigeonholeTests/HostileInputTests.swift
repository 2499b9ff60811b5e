import Foundation
import Glibc
import Testing
import MutationSupport
@testable import SyncAPI
@testable import HTTPServer
@testable import SyncEngine

// Hostile input against the live server (the transport's own: Tests/HTTPServerTests/
// FuzzRegressionTests.swift; JSON bodies alone: Tests/JSONTests/JSONHostileInputTests.swift;
// cursors and page tokens alone: Tests/SyncEngineTests/TokenHostileInputTests.swift):
// the real server gets a few hundred hostile requests over raw sockets; each must get an
// HTTP response (the parser's own 4xx/5xx when the head is bad) or a close, never a hang,
// and the server must still answer /healthz afterwards.

/// What a raw connection got back after sending its bytes and half-closing.
private enum Reply: Equatable {
    case response(status: Int)
    case closed      // EOF without a byte
    case reset       // ECONNRESET (the server closed with our bytes unread)
    case hang        // nothing within the receive timeout
    case malformed(String)
}

/// One connection: send everything, shut down the write side (so a partial request is
/// known to be final), read to EOF under SO_RCVTIMEO/SO_SNDTIMEO.
private func probe(port: UInt16, _ bytes: [UInt8], timeout: Int = 3) -> (Reply, [UInt8]) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { return (.malformed("connect failed: errno \(errno)"), []) }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
        if n > 0 { off += n; continue }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return (.hang, []) }   // the server stopped reading
        break   // EPIPE/ECONNRESET: the server already answered and closed
    }
    shutdown(fd, Int32(SHUT_WR))
    var got: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    var end: Reply? = nil
    while end == nil {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { got += chunk[0..<n]; continue }
        if n == 0 { end = .closed; break }
        switch errno {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: end = .hang
        case ECONNRESET: end = .reset
        default: end = .malformed("recv errno \(errno)")
        }
    }
    if end == .hang || got.isEmpty { return (end!, got) }
    return (firstFinalStatus(got).map { .response(status: $0) } ?? .malformed(String(decoding: got.prefix(80), as: UTF8.self)), got)
}

/// The status of the first non-100 response in `bytes` (101 counts: it is final for HTTP).
private func firstFinalStatus(_ bytes: [UInt8]) -> Int? {
    var rest = bytes[...]
    while true {
        guard rest.count >= 12, rest.starts(with: Array("HTTP/1.1 ".utf8)),
              let status = Int(String(decoding: rest.dropFirst(9).prefix(3), as: UTF8.self)), (100...599).contains(status) else { return nil }
        if status != 100 { return status }
        guard let end = rest.firstRange(of: [13, 10, 13, 10]) else { return nil }
        rest = rest[end.upperBound...]
    }
}

/// What the server's own parser makes of `bytes`: the status of the parse/framing error
/// the server must answer with, or nil when the head is fine or incomplete.
private func parserVerdict(_ bytes: [UInt8]) -> (status: Int?, complete: Bool) {
    var parser = RequestHeadParser(maxHeaderBytes: HTTPServerConfiguration().maxHeaderBytes)
    do {
        guard case .head(let head, _) = try bytes.withUnsafeBufferPointer({ try parser.parse($0) }) else { return (nil, false) }
        _ = try BodyFraming.of(head)
        if let expect = head.headers["expect"], expect.trimmedOWS().lowercased() != "100-continue" {
            return (HTTPParseError.unsupportedExpectation.status.code, true)
        }
        return (nil, true)
    } catch let e as HTTPParseError {
        return (e.status.code, true)
    } catch {
        return (nil, false)
    }
}

struct HostileInputTests {
    /// A client that sends its request and shuts its side (`nc -N`, some proxies) gets
    /// the answer before the close: a send is stored and answered 201 (issue 20, item 12:
    /// it was stored and never answered), and a read is answered too.
    @Test func aRequestFollowedByAHalfCloseIsAnswered() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            try server.createUser("bob")
            let room = try alice.directRoom(with: "bob")
            let body = Array(#"{"client_msg_id":"half-1","body":"sent, then shut"}"#.utf8)
            let request = Array("""
                POST /v1/rooms/\(room)/messages HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(alice.token)\r\n\
                Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n
                """.utf8) + body
            let (reply, got) = probe(port: server.port, request)
            #expect(reply == .response(status: 201), "\(reply): \(String(decoding: got.prefix(200), as: UTF8.self))")
            let history = try alice.get("/v1/rooms/\(room)/messages")
            #expect((history.json["messages"]?.array ?? []).map { $0["client_msg_id"]?.stringValue } == ["half-1"])
            let read = Array("GET /v1/rooms/\(room)/messages HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(alice.token)\r\n\r\n".utf8)
            #expect(probe(port: server.port, read).0 == .response(status: 200))
        }
    }

    /// A long-poll whose client shut its side right after sending is a parked request of
    /// a client that is gone: it is dropped at once, not held for its timeout, also when
    /// the end arrives while the pull's first read is under way.
    @Test func aLongPollFollowedByAHalfCloseIsDroppedAtOnce() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let cursor = try alice.conversationsCursor()
            let request = Array("GET /v1/sync?cursor=\(cursor)&timeout=30 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(alice.token)\r\n\r\n".utf8)
            for _ in 0..<5 {
                let started = ContinuousClock.now
                let (reply, _) = probe(port: server.port, request, timeout: 10)
                #expect(reply == .closed || reply == .reset, "\(reply)")
                #expect(ContinuousClock.now - started < .seconds(3), "held \(ContinuousClock.now - started)")
            }
            #expect(eventually { server.parkedPolls == 0 })
            #expect(server.server.api.waits.count(DeviceID(alice.id)) == 0)
        }
    }

    @Test func hostileRequestsGetAnErrorOrACloseAndTheServerSurvives() throws {
        // Rate limits off: hostile requests with broken tokens must not turn every later
        // request into a 429 before it reaches the code under test.
        try TestServer.with(configure: {
            $0.api.sendRatePerSecond = 0
            $0.api.authFailureRatePerSecond = 1_000_000
            $0.api.authFailureBurst = 1_000_000
        }) { server in
            let alice = try server.createUser("alice", device: "phone")
            try server.createUser("bob")
            let room = try alice.createGroup("g", members: ["bob"])
            try alice.sendOK(room, "seed-1", "hello")
            let cursor = try alice.conversationsCursor()
            let me = try alice.userID()
            let page = Conversations.PageToken(asOf: Int64.max, lastActiveAt: Int64.max, lastRoom: Int64.max, returned: [room]).encoded
            let auth = "Authorization: Bearer \(alice.token)\r\n"

            func request(_ method: String, _ target: String, _ headers: String = "", body: [UInt8]? = nil, chunked: Bool = false) -> [UInt8] {
                var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers
                guard let body else { return Array((head + "\r\n").utf8) }
                if chunked {
                    head += "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    return Array(head.utf8) + Array(String(body.count, radix: 16).utf8) + [13, 10] + body + Array("\r\n0\r\n\r\n".utf8)
                }
                head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                return Array(head.utf8) + body
            }
            func json(_ s: String) -> [UInt8] { Array(s.utf8) }
            let m = FuzzFrames.masked

            // 1. Named hostile requests with the answer each must get (nil: any response or a close).
            let send = "/v1/rooms/\(room)/messages"
            let named: [(String, [UInt8], Int?)] = [
                ("page token whose delta overflows (libFuzzer finding)", request("GET", "/v1/conversations?page=cDITVEF2____________QQ", auth), 400),
                ("page token whose ids overflow when summed", request("GET", "/v1/conversations?page=cDIBAgMC__________9_AQ", auth), 400),
                ("cursor past the end of the stream",
                 request("GET", "/v1/sync?timeout=0&cursor=" + Cursor(user: UserID(me), inboxSeq: Int64.max).encoded, auth), 400),
                ("cursor of Int64.max + 1", request("GET", "/v1/sync?timeout=0&cursor=djEuMS45MjIzMzcyMDM2ODU0Nzc1ODA4", auth), 400),
                ("garbage cursor", request("GET", "/v1/sync?timeout=0&cursor=%FF%FE", auth), 400),
                ("Content-Length of 20 nines", Array("POST \(send) HTTP/1.1\r\nHost: a\r\n\(auth)Content-Length: 99999999999999999999\r\n\r\n{}".utf8), 400),
                ("Content-Length over the route's limit", Array("POST \(send) HTTP/1.1\r\nHost: a\r\n\(auth)Content-Length: 2000000\r\n\r\n".utf8), 413),
                ("chunk size ffffffffffffffffff", Array("POST \(send) HTTP/1.1\r\nHost: a\r\n\(auth)Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n".utf8), 400),
                ("chunk size over the route's limit", Array("POST \(send) HTTP/1.1\r\nHost: a\r\n\(auth)Transfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n".utf8), 413),
                ("100,000 [ as a message body", request("POST", send, auth, body: json(String(repeating: "[", count: 100_000))), 413),
                ("60,000 [ as a message body", request("POST", send, auth, body: json(String(repeating: "[", count: 60_000))), 400),
                ("message body nested 65 deep", request("POST", send, auth, body: json(#"{"client_msg_id":"d","body":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "}")), 400),
                ("invalid UTF-8 in a JSON string", request("POST", send, auth, body: [0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D]), 400),
                ("invalid UTF-8 in a path segment", request("GET", "/v1/rooms/%FF/messages", auth), 400),
                ("invalid UTF-8 in the query", request("GET", "/v1/sync?cursor=%C0%AF", auth), 400),
                ("huge limit", request("GET", "/v1/rooms/\(room)/messages?limit=99999999999999999999&before=-1", auth), 400),
                ("header line of 20,000 bytes", request("GET", "/healthz", "X: " + String(repeating: "a", count: 20_000) + "\r\n"), 431),
                ("101 header fields", request("GET", "/healthz", String(repeating: "X: y\r\n", count: 101)), 431),
                ("NUL in the request line", Array("GET /heal\0thz HTTP/1.1\r\nHost: a\r\n\r\n".utf8), 400),
                ("bare LF", Array("GET /healthz HTTP/1.1\nHost: a\n\n".utf8), 400),
                ("HTTP/2.0", Array("GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n".utf8), 505),
                ("Transfer-Encoding gzip", Array("POST \(send) HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".utf8), 501),
                ("Expect 200-ok", Array("POST \(send) HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}".utf8), 417),
                ("CL and TE together", Array("POST \(send) HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}".utf8), 400),
                ("WebSocket: then the SWIFT-NOTES G16 frame",
                 request("GET", "/v1/notify", auth + FuzzFrames.upgradeHeaders) + Array(Data(base64Encoded: "//////+ysrKy//////8=")!), 101),
                ("WebSocket: then a 2^62-byte frame header",
                 request("GET", "/v1/notify", auth + FuzzFrames.upgradeHeaders) + [0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], 101),
                ("WebSocket: then invalid UTF-8 text", request("GET", "/v1/notify", auth + FuzzFrames.upgradeHeaders) + m(0x81, [0xED, 0xA0, 0x80]), 101),
                ("only random bytes", { var r = SeededRandom(seed: 7); return r.bytes(512) }(), nil),
                ("empty request", [], nil),
            ]
            for (name, bytes, expected) in named {
                let (reply, got) = probe(port: server.port, bytes)
                #expect(reply != .hang, "\(name): no answer and no close")
                if let expected {
                    #expect(reply == .response(status: expected) || (reply == .reset && expected >= 400), "\(name): \(reply)")
                }
                if expected == 101, case .response = reply {
                    // After the 101, the server's close frame: 1002 for framing violations, 1009 for size, 1007 for UTF-8.
                    let frames = got.firstRange(of: [13, 10, 13, 10]).map { Array(got[$0.upperBound...]) } ?? []
                    let code = FuzzFrames.closeCode(inServerFrames: frames)
                    #expect(code.map { [1002, 1009, 1007].contains($0) } == true, "\(name): close code \(String(describing: code))")
                }
            }

            // 2. Mutated valid requests (bit flips, truncation, duplication, CR/LF/NUL/0xFF,
            //    huge numbers, invalid UTF-8, long runs) and random bytes.
            let seeds: [[UInt8]] = [
                request("GET", "/healthz"),
                request("GET", "/v1/me", auth),
                request("POST", send, auth, body: json(#"{"client_msg_id":"x","body":{"text":"hi"}}"#)),
                request("POST", send, auth, body: json(#"{"client_msg_id":"y","body":[1,2.5e3,"\u00e9"]}"#), chunked: true),
                request("GET", "/v1/sync?cursor=\(cursor)&timeout=0&limit=5", auth),
                request("GET", "/v1/conversations?limit=2&preview=1&page=\(page)", auth),
                request("POST", "/v1/sync/ack", auth, body: json(#"{"cursor":"\#(cursor)"}"#)),
                request("POST", "/v1/rooms/\(room)/read", auth, body: json(#"{"seq":1}"#)),
                request("GET", "/v1/rooms/\(room)/messages?before=5&limit=3", auth),
                request("POST", "/v1/rooms", auth, body: json(#"{"name":"x","members":["bob"]}"#)),
                request("GET", "/v1/notify", auth + FuzzFrames.upgradeHeaders) + m(0x81, Array("hi".utf8)) + m(0x88, [0x03, 0xE8]),
            ]
            var rng = SeededRandom(seed: 0x5EED_1004)
            var tally: [String: Int] = [:]
            for i in 0..<300 {
                let bytes = i % 10 == 9 ? rng.bytes(rng.below(400)) : Mutation.bytes(rng.pick(seeds), &rng)
                let (reply, _) = probe(port: server.port, bytes)
                let verdict = parserVerdict(bytes)
                let b64 = Data(bytes).base64EncodedString()
                switch reply {
                case .hang:
                    Issue.record("no answer and no close; input (base64): \(b64)")
                case .malformed(let what):
                    Issue.record("malformed reply \(what.debugDescription); input (base64): \(b64)")
                case .response(let status):
                    tally["\(status / 100)xx", default: 0] += 1
                    if let expected = verdict.status { #expect(status == expected, "got \(status), parser says \(expected); input (base64): \(b64)") }
                    if !verdict.complete { Issue.record("response \(status) to an incomplete head; input (base64): \(b64)") }
                case .closed, .reset:
                    tally["\(reply)", default: 0] += 1
                    if verdict.status != nil && reply == .closed {
                        Issue.record("closed without the parser's \(verdict.status!); input (base64): \(b64)")
                    }
                }
            }
            #expect(tally["4xx", default: 0] > 50, "\(tally)")

            // 3. Still alive and still serving.
            let fresh = try server.connect()
            #expect(try fresh.get("/healthz").status == 200)
            #expect(try fresh.get("/v1/me", token: alice.token).status == 200)
        }
    }
}

private enum FuzzFrames {
    static let upgradeHeaders = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

    /// The code of the first close frame in a run of (unmasked) server frames.
    static func closeCode(inServerFrames bytes: [UInt8]) -> Int? {
        var i = 0
        while i + 2 <= bytes.count {
            var len = Int(bytes[i + 1] & 0x7F), header = 2
            if len == 126 {
                guard i + 4 <= bytes.count else { return nil }
                len = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
                header = 4
            } else if len == 127 {
                return nil   // the server never sends 64-bit lengths here
            }
            guard i + header + len <= bytes.count else { return nil }
            if bytes[i] & 0x0F == 0x8 {
                return len >= 2 ? Int(bytes[i + header]) << 8 | Int(bytes[i + header + 1]) : nil
            }
            i += header + len
        }
        return nil
    }

    /// A masked client frame.
    static func masked(_ b0: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        var out: [UInt8] = [b0, 0x80 | UInt8(payload.count)]   // < 126 bytes here
        out += mask
        for (i, b) in payload.enumerated() { out.append(b ^ mask[i & 3]) }
        return out
    }
}
