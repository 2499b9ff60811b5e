import Foundation
import JSON
import Testing

/// `pigeonhole demo` and `serve --no-web-client`, run as a user runs them.
@Suite(.timeLimit(.minutes(3)))
struct WebClientCLITests {
    /// Starts the binary, reads stdout and stderr until `ready` holds for them, returns
    /// the process (running) and what was read.
    func start(_ args: [String], until ready: (String, String) -> Bool) throws -> (Process, String, String) {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        var o = "", e = ""
        let deadline = Date().addingTimeInterval(20)
        let fds = [out.fileHandleForReading.fileDescriptor, err.fileHandleForReading.fileDescriptor]
        var open = [true, true]
        var buf = [UInt8](repeating: 0, count: 4096)
        while !ready(o, e) && Date() < deadline && p.isRunning && open.contains(true) {
            // Wait for output, not for time: poll(2) returns as soon as either pipe has
            // some (its 100 ms bound only lets the loop see an exit or the deadline).
            var polled = fds.indices.map { pollfd(fd: open[$0] ? fds[$0] : -1, events: Int16(POLLIN), revents: 0) }
            guard poll(&polled, nfds_t(polled.count), 100) > 0 else { continue }
            for k in fds.indices where open[k] && polled[k].revents != 0 {
                let n = read(fds[k], &buf, buf.count)
                if n <= 0 { open[k] = false; continue }
                if k == 0 { o += String(decoding: buf[..<n], as: UTF8.self) } else { e += String(decoding: buf[..<n], as: UTF8.self) }
            }
        }
        return (p, o, e)
    }

    @Test func demoPrintsWorkingLinks() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (p, out, _) = try start(["demo", "--port", "0", "--data-dir", dir]) { o, _ in o.contains("carol (phone)") }
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        let links = out.split(separator: "\n").compactMap { line -> (port: UInt16, token: String)? in
            guard let r = line.range(of: "http://127.0.0.1:"), let hash = line.range(of: "/#token=") else { return nil }
            guard let port = UInt16(line[r.upperBound..<hash.lowerBound]) else { return nil }
            return (port, String(line[hash.upperBound...]))
        }
        #expect(links.count == 4, "\(out)")
        guard let first = links.first else { return }
        let c = try HTTPTestClient(port: first.port)
        #expect(try c.get("/").status == 200)
        var names: [String] = []
        for link in links {
            let me = try c.get("/v1/me", token: link.token)
            #expect(me.status == 200)
            names.append(me.json["user"]?["name"]?.stringValue ?? "")
        }
        #expect(names == ["alice", "alice", "bob", "carol"])
        let page = try c.get("/v1/conversations", token: links[0].token)
        let rooms = page.json["conversations"]?.array ?? []
        #expect(rooms.count == 2)
        #expect(rooms.allSatisfy { ($0["last_seq"]?.int64Value ?? 0) >= 3 })
        p.terminate()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    @Test func noWebClientFlag() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (p, _, err) = try start(["serve", "--no-web-client", "--port", "0", "--data-dir", dir]) { _, e in
            e.contains("msg=listening")
        }
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        guard let r = err.range(of: " port="), let port = UInt16(err[r.upperBound...].prefix { $0.isNumber }) else {
            Issue.record("no port in \(err)")
            return
        }
        let c = try HTTPTestClient(port: port)
        expectError(try c.get("/"), 404, "not_found")
        expectError(try c.get("/app/app.js"), 404, "not_found")
        #expect(try c.get("/healthz").status == 200)
    }
}
