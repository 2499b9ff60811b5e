import Foundation
import JSON
import Testing

/// `pigeonhole demo` and `serve --no-web-client`, run as a user runs them.
@Suite(.timeLimit(.minutes(1)))
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
        for h in [out.fileHandleForReading, err.fileHandleForReading] {
            _ = fcntl(h.fileDescriptor, F_SETFL, fcntl(h.fileDescriptor, F_GETFL) | O_NONBLOCK)
        }
        while !ready(o, e) && Date() < deadline && p.isRunning {
            var buf = [UInt8](repeating: 0, count: 4096)
            for (h, isOut) in [(out.fileHandleForReading, true), (err.fileHandleForReading, false)] {
                let n = read(h.fileDescriptor, &buf, buf.count)
                if n > 0 {
                    if isOut { o += String(decoding: buf[..<n], as: UTF8.self) } else { e += String(decoding: buf[..<n], as: UTF8.self) }
                }
            }
            usleep(20_000)
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
