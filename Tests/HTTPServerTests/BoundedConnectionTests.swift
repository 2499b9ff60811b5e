import Foundation
import Testing
@testable import HTTPServer

/// Hostile clients against a live server on port 0 (issue 13 items 1, 2, 4, 5): a
/// connection's memory is bounded whatever the client does, and the server stays up.
@Suite(.timeLimit(.minutes(3)))
struct BoundedConnectionTests {
    /// A non-blocking client socket with small kernel buffers, so what the server
    /// buffers shows in how far the client gets.
    final class Flooder: @unchecked Sendable {
        let fd: Int32
        init(port: UInt16, smallBuffers: Bool = true) throws {
            fd = try RawClient.connect(port: port, buffers: smallBuffers ? 4096 : nil)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        deinit { Glibc.close(fd) }

        /// Sends `unit` over and over without reading, until `limit` bytes went out or
        /// nothing more was taken for `stall` seconds. Returns the bytes sent.
        func flood(_ unit: [UInt8], limit: Int, stall: Double = 1.5) -> Int {
            var sent = 0
            var lastProgress = Date()
            while sent < limit {
                let off = sent % unit.count
                let n = unit.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
                if n > 0 {
                    sent += n
                    lastProgress = Date()
                } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if Date().timeIntervalSince(lastProgress) > stall { break }
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 50)
                } else {
                    break
                }
            }
            return sent
        }

        /// Sends everything, blocking (with a reader running elsewhere).
        func sendAll(_ bytes: [UInt8]) {
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
                if n > 0 { off += n } else if n < 0 && errno == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 100)
                } else { return }
            }
        }

        /// Reads until EOF or `timeout` seconds without a byte; true if it reached EOF.
        @discardableResult
        func readAll(timeout: Double = 5, into sink: (UnsafeRawBufferPointer) -> Void) -> Bool {
            var buf = [UInt8](repeating: 0, count: 65536)
            var last = Date()
            while Date().timeIntervalSince(last) < timeout {
                let n = buf.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    buf.withUnsafeBytes { sink(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    last = Date()
                } else if n == 0 {
                    return true
                } else if errno == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    _ = poll(&p, 1, 100)
                } else {
                    return errno == ECONNRESET
                }
            }
            return false
        }
    }

    /// Counts occurrences of `needle` across chunk boundaries.
    final class Counter: @unchecked Sendable {
        let needle: [UInt8]
        private var tail: [UInt8] = []
        private(set) var count = 0
        private(set) var bytes = 0
        init(_ needle: String) { self.needle = Array(needle.utf8) }
        func feed(_ chunk: UnsafeRawBufferPointer) {
            bytes += chunk.count
            let data = tail + Array(chunk)
            var i = 0
            while i + needle.count <= data.count {
                if data[i] == needle[0] && Array(data[i..<(i + needle.count)]) == needle { count += 1; i += needle.count } else { i += 1 }
            }
            tail = Array(data.suffix(needle.count - 1))
        }
    }

    /// Item 1: a client pipelines requests and never reads. The server stops reading
    /// once its output backs up (it answered only a bounded number of requests and the
    /// client could not push 48 MB), stays up for others, and answers every request
    /// once the client drains.
    @Test func aPipeliningClientThatNeverReadsIsPausedThenServedInFull() throws {
        try withTestServer({ $0.threads = 1 }) { server, handler in
            let request = Array("GET /blob/8 HTTP/1.1\r\nHost: x\r\nX-Pad: \(String(repeating: "p", count: 2000))\r\n\r\n".utf8)
            let c = try Flooder(port: server.port)
            let limit = 48 << 20
            let sent = c.flood(request, limit: limit)
            #expect(sent < limit, "the server kept reading: \(sent) bytes taken")
            let answered = handler.blobs.load(ordering: .relaxed)
            // 8 KiB answers: the 1 MiB output bound plus the kernel's socket buffers
            // (up to 4 MiB here) hold a few hundred; without the bound it is every request.
            #expect(answered < 1024, "answered \(answered) requests while the client read nothing")

            // Another client is served meanwhile.
            let other = try RawClient(port: server.port)
            other.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(other.readResponse()?.status == 200)

            // The client drains: every request it sent is answered, in one stream.
            let counter = Counter("HTTP/1.1 200 OK\r\n")
            let done = DispatchSemaphore(value: 0)
            Thread { c.readAll { counter.feed($0) }; done.signal() }.start()
            let partial = sent % request.count
            let complete = sent / request.count + (partial > 0 ? 1 : 0)
            if partial > 0 { c.sendAll(Array(request[partial...])) }
            c.sendAll(Array("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
            #expect(done.wait(timeout: .now() + 40) == .success)
            #expect(counter.count == complete + 1)
            #expect(handler.blobs.load(ordering: .relaxed) == complete)
        }
    }

    /// Item 2: a WebSocket client floods pings and never reads. Pongs never queue up:
    /// only the latest ping is answered, and the socket still works afterwards.
    @Test func aPingFloodGetsPongsOnlyForTheLatestPing() throws {
        try withTestServer { server, _ in
            let c = try Flooder(port: server.port)
            c.sendAll(Array(WebSocketServerTests.upgrade.utf8))
            var pings: [UInt8] = []
            for i in 0..<1000 {
                var payload = Array(String(format: "%06d", i).utf8)
                payload += [UInt8](repeating: UInt8(ascii: "x"), count: 125 - payload.count)
                pings += ClientFrame.masked(0x89, payload)
            }
            let limit = 24 << 20   // 24 MB of 131-byte pings, never reading
            let sent = c.flood(pings, limit: limit - limit % pings.count)
            #expect(sent == limit - limit % pings.count, "the server stopped reading pings at \(sent) bytes")
            let pingCount = sent / 131
            // Now read: the 101, a bounded number of pongs, and the one for the last ping.
            c.sendAll(ClientFrame.masked(0x81, Array("after".utf8)))
            var received: [UInt8] = []
            c.readAll(timeout: 1.5) { received += $0 }
            let head = try #require(received.firstRange(of: Array("\r\n\r\n".utf8)))
            var frames = Array(received[head.upperBound...])
            var pongs: [[UInt8]] = []
            var texts: [String] = []
            while frames.count >= 2 {
                let n = Int(frames[1] & 0x7F)
                guard n < 126, frames.count >= 2 + n else { break }
                let payload = Array(frames[2..<(2 + n)])
                if frames[0] & 0x0F == 0xA { pongs.append(payload) } else if frames[0] & 0x0F == 0x1 { texts.append(String(decoding: payload, as: UTF8.self)) }
                frames.removeFirst(2 + n)
            }
            #expect(pongs.count >= 1)
            // Without coalescing every ping gets its pong; with it, only what the socket
            // took while the client was not reading, plus the last.
            #expect(pongs.count < pingCount / 20, "\(pongs.count) pongs for \(pingCount) pings")
            print("ping flood: \(pongs.count) pongs for \(pingCount) pings")
            #expect(pongs.last.map { String(decoding: $0.prefix(6), as: UTF8.self) } == "000999")
            #expect(texts == ["AFTER"])
        }
    }

    /// Item 4: a client that asks for a big answer and never reads it is closed after
    /// the write timeout, with the answer cut off (its memory freed).
    @Test func outputThatDoesNotMoveForTheWriteTimeoutClosesTheConnection() throws {
        try withTestServer({ $0.writeTimeout = .milliseconds(500) }) { server, _ in
            // Default kernel buffers (they grow only while the client reads): an 8 MiB
            // answer cannot fit in them, so the server's output stops moving.
            let c = try Flooder(port: server.port, smallBuffers: false)
            c.sendAll(Array("GET /blob/8192 HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            // The client reads nothing until the server has given up on it (its sweep
            // notices within a quarter of the timeout).
            #expect(eventually { server.openConnections == 1 })
            #expect(eventually(timeout: 3) { server.openConnections == 0 }, "the connection was kept")
            let counter = Counter("HTTP/1.1")
            let closed = c.readAll(timeout: 3) { counter.feed($0) }
            #expect(closed, "the connection was not closed")
            #expect(counter.bytes < 8 << 20, "the whole answer arrived: \(counter.bytes) bytes")
        }
    }

    /// Item 5: the body deadline is total, not per byte: a trickle is cut off with 408.
    @Test func aTrickledBodyIsCutOffAtTheTotalBodyDeadline() throws {
        try withTestServer({ $0.bodyTimeout = .seconds(1) }) { server, _ in
            let c = try RawClient(port: server.port)
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            let start = Date()
            var closed = false
            for _ in 0..<30 {   // one byte every 100 ms: 3 s if never cut off
                c.send("[")
                // The trickle is the point (a real socket against the server's real body
                // deadline): the pause between bytes is a wait for the answer.
                var p = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, 100) > 0 { closed = true; break }
            }
            #expect(closed)
            #expect(Date().timeIntervalSince(start) < 2.5)
            let r = try #require(c.readResponse())
            #expect(r.status == 408)
            #expect(c.isClosedByPeer())
        }
    }

    /// Item 5: chunk extensions are capped (4 KiB for the whole body).
    @Test func longChunkExtensionsAreRefused() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "e", count: 5000) + "\r\n[\r\n")
            let r = try #require(c.readResponse())
            #expect(r.status == 400)
            #expect(r.text.contains("chunk extensions"))
            #expect(c.isClosedByPeer())
            // Short extensions still pass.
            let ok = try RawClient(port: server.port)
            ok.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\n[]\r\n0\r\n\r\n")
            #expect(ok.readResponse()?.text == "[]")
        }
    }

    /// Item 5: one address cannot take every slot; a freed slot is usable again.
    @Test func connectionsPerAddressAreCapped() throws {
        try withTestServer({ $0.maxConnectionsPerAddress = 3 }) { server, _ in
            let held = try (0..<3).map { _ in try RawClient(port: server.port) }
            for c in held {
                c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(c.readResponse()?.status == 200)
            }
            let fourth = try RawClient(port: server.port)
            fourth.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try #require(fourth.readResponse())
            #expect(r.status == 503)
            #expect(r.text.contains("too_many_connections"))
            #expect(r.header("Retry-After") == "1")
            #expect(fourth.isClosedByPeer())
            held[0].send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(held[0].readResponse()?.status == 200)
            #expect(eventually { server.openConnections == 2 })
            let fifth = try RawClient(port: server.port)
            fifth.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(fifth.readResponse()?.status == 200)
        }
    }
}
