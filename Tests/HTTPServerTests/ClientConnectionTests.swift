import Foundation
import Synchronization
import Testing
@testable import HTTPServer
import Sockets
import HTTPClient

/// The load generator's non-blocking client, on its own event loop, against the real
/// server on port 0: keep-alive requests, bodies, upgrade to WebSocket, and failures.
@Suite(.timeLimit(.minutes(3)))
struct ClientConnectionTests {
    typealias Outcome = Result<ClientConnection.Response, ClientConnection.Failure>

    /// Runs `start` on a client loop and waits for `count` outcomes it reports.
    func collect<T: Sendable>(_ count: Int, _ start: @escaping @Sendable (EventLoop, @escaping @Sendable (T) -> Void) -> Void) throws -> [T] {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let got = Mutex<[T]>([])
        let done = DispatchSemaphore(value: 0)
        group.loops[0].execute {
            start(group.loops[0]) { value in
                got.withLock { $0.append(value) }
                done.signal()
            }
        }
        for _ in 0..<count { _ = done.wait(timeout: .now() + 10) }
        return got.withLock { $0 }
    }

    @Test func keepAliveRequestsWithAndWithoutBodies() throws {
        try withTestServer { server, _ in
            let port = server.port
            let results: [String] = try collect(3) { loop, report in
                let c = ClientConnection(loop: loop, host: "127.0.0.1", port: port)
                c.request("GET", "/hello") { r in
                    report((try? r.get()).map { "\($0.status) " + String(decoding: $0.body, as: UTF8.self) } ?? "fail")
                    c.request("POST", "/echo", headers: [("Content-Type", "application/json")], body: Array(#"{"a":1}"#.utf8)) { r in
                        report((try? r.get()).map { "\($0.status) " + String(decoding: $0.body, as: UTF8.self) } ?? "fail")
                        // A 200 KB answer arrives in many reads.
                        c.request("GET", "/big") { r in report((try? r.get()).map { "\($0.status) \($0.body.count > 4000)" } ?? "fail") }
                    }
                }
            }
            #expect(results == [#"200 {"hello":"world"}"#, #"200 {"a":1}"#, "200 true"])
            #expect(server.openConnections <= 1)   // one connection, kept alive
        }
    }

    @Test func refusedConnectAndTimeoutAreFailures() throws {
        // A port nobody listens on: take one from the kernel, then close it.
        let probe = try Socket.listen(host: "127.0.0.1", port: 0)
        close(probe.fd)
        let refused: [Outcome] = try collect(1) { loop, report in
            ClientConnection(loop: loop, host: "127.0.0.1", port: probe.port).request("GET", "/") { report($0) }
        }
        #expect(refused.first.map { if case .failure(.connect) = $0 { true } else { false } } == true)

        try withTestServer { server, _ in
            let port = server.port
            let timedOut: [Outcome] = try collect(1) { loop, report in
                let c = ClientConnection(loop: loop, host: "127.0.0.1", port: port)
                c.request("GET", "/later/2000", timeout: .milliseconds(100)) { report($0) }
            }
            #expect(timedOut.first.map { if case .failure(.timedOut) = $0 { true } else { false } } == true)
        }
    }

    @Test func webSocketUpgradeTextAndServerClose() throws {
        try withTestServer { server, _ in
            let port = server.port
            let events: [String] = try collect(4) { loop, report in
                let c = ClientConnection(loop: loop, host: "127.0.0.1", port: port)
                c.openWebSocket("/ws", handlers: .init(
                    opened: { refused in
                        report(refused == nil ? "open" : "refused \(refused!.status)")
                        c.sendText(Array("hello".utf8))
                    },
                    text: { bytes in
                        report("text " + String(decoding: bytes, as: UTF8.self))
                        c.sendText(Array("close".utf8))   // the test server then closes with 1000
                    },
                    ended: { f in report("ended \(f)") }))
                // Not an upgrade endpoint: the answer is handed over, no socket opens.
                ClientConnection(loop: loop, host: "127.0.0.1", port: port).openWebSocket("/hello", handlers: .init(
                    opened: { refused in report("refused \(refused?.status ?? 0)") }, text: { _ in }, ended: { _ in }))
            }
            #expect(Set(events) == ["open", "text HELLO", "ended WebSocket closed with 1000", "refused 200"])
        }
    }
}

/// A server that dies half-way through a response head must fail the request, not
/// the client (a partial head followed by EOF once trapped on an empty range).
@Suite(.timeLimit(.minutes(3)))
struct ClientConnectionAbortTests {
    @Test func halfAHeadThenEOFIsAFailure() throws {
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { close(listener.fd) }
        let fd = listener.fd
        Thread.detachNewThread {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 5000)
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            var buf = [UInt8](repeating: 0, count: 1024)
            _ = recv(c, &buf, buf.count, 0)
            let partial = Array("HTTP/1.1 200 OK\r\nContent-Le".utf8)
            _ = partial.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The client reads the partial head before the EOF whenever the EOF arrives
            // (TCP delivers the bytes first): either way it meets EOF with half a head.
            close(c)
        }
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let outcome = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let port = listener.port
        group.loops[0].execute {
            ClientConnection(loop: group.loops[0], host: "127.0.0.1", port: port).request("GET", "/") { r in
                outcome.withLock { $0 = (try? r.get()) == nil ? "failed" : "answered" }
                done.signal()
            }
        }
        _ = done.wait(timeout: .now() + 10)
        #expect(outcome.withLock { $0 } == "failed")
    }
}
