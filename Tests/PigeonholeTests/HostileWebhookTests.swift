import Foundation
import JSON
@testable import SyncAPI
import Glibc
import Synchronization
import Testing

/// Something on the webhook's address that answers every request with the same raw
/// bytes and closes: not an HTTP server of ours, so it can say anything.
final class RawWebhook: @unchecked Sendable {
    // Confinement: `fd` is written once in init; the accept thread only reads it.
    let fd: Int32
    let port: UInt16
    let answer: [UInt8]
    let requests = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)

    init(answer: [UInt8]) throws {
        self.answer = answer
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw TestFailure("webhook socket: errno \(errno)") }
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in serve() }
        t.start()
    }

    var url: String { "http://127.0.0.1:\(port)/push" }
    var requestCount: Int { requests.load(ordering: .relaxed) }

    private func serve() {
        while !stopped.load(ordering: .acquiring) {
            let c = accept(fd, nil, nil)
            guard c >= 0 else { if errno == EINTR { continue } else { return } }
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            // Read the request head (the body may or may not follow; we answer anyway).
            var seen: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 16 * 1024)
            while !seen.contains(13) || !String(decoding: seen, as: UTF8.self).contains("\r\n\r\n") {
                let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                seen += buf[0..<n]
            }
            requests.wrappingAdd(1, ordering: .relaxed)
            _ = answer.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            shutdown(c, Int32(SHUT_WR))
            // Close once the client has (it reads the answer to our EOF, then closes), or
            // the receive timeout passed: a close with its bytes unread would reset the
            // connection, and the client might see the reset instead of the answer.
            while buf.withUnsafeMutableBytes({ recv(c, $0.baseAddress, $0.count, 0) }) > 0 {}
            Glibc.close(c)
        }
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// Issue 13, item 3: a webhook answering `Content-Length: -1` trapped the server, and
/// because the push stayed pending, every restart trapped again. Now any answer is at
/// worst a failed attempt whose reason lands in `last_error`.
@Suite(.timeLimit(.minutes(3)))
struct HostileWebhookTests {
    static let answers: [(String, String)] = [
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "body shorter than its Content-Length"),
        ("HTTP/1.1 99999999999999999999 OK\r\n\r\n", "bad status line"),
        ("\u{0}\u{1}\u{2}garbage\r\n\r\n", "bad status line"),
        ("", "empty response"),
    ]

    @Test(arguments: answers) func aHostileAnswerIsAFailedAttemptWithItsReason(_ c: (String, String)) throws {
        let hook = try RawWebhook(answer: Array(c.0.utf8))
        defer { hook.stop() }
        try TestServer.with(configure: { config in
            PushOutboxTests.configure(url: hook.url, attempts: 1)(&config)
        }) { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            try alice.sendOK(room, "p1", "hello?")
            var dead: [JSONValue] = []
            #expect(eventually(timeout: 5) {
                dead = (try? server.admin.get("/v1/admin/pushes", token: TestServer.adminToken).json["dead"]?.arrayValue) ?? []
                return dead.count == 1
            })
            #expect(dead.first?["last_error"]?.stringValue == "malformed response: \(c.1)")
            #expect(hook.requestCount == 1)
            #expect(try server.admin.get("/healthz").status == 200)
        }
    }

    @Test func theServerStaysUpAndRestartsWhileThePushIsStillPending() throws {
        let hook = try RawWebhook(answer: Array("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n".utf8))
        defer { hook.stop() }
        try TemporaryDirectory.with { dir in
            let configure: (inout PigeonholeServer.Configuration) -> Void = PushOutboxTests.configure(url: hook.url, attempts: 100)
            let first = try TestServer(directory: dir, durability: .normal, configure: configure)
            let alice = try first.createUser("alice", device: "phone")
            _ = try first.createUser("bob", device: "phone")
            try alice.sendOK(try alice.directRoom(with: "bob"), "p1", "hello?")
            #expect(eventually(timeout: 5) { hook.requestCount >= 2 })   // retried: still alive
            #expect(try first.admin.get("/healthz").status == 200)
            first.shutdown()

            let before = hook.requestCount
            let second = try TestServer(directory: dir, durability: .normal, configure: configure)
            defer { second.shutdown() }
            #expect(eventually(timeout: 5) { hook.requestCount >= before + 2 })   // the pending push, tried again
            #expect(try second.admin.get("/healthz").status == 200)
            let pending = try second.admin.get("/v1/admin/pushes", token: TestServer.adminToken).json["pending"]?.intValue
            #expect(pending == 1)
        }
    }
}
