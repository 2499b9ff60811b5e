import Foundation
import JSON
import Testing

/// The `pigeonhole` executable as a user runs it: flags, exit codes, admin commands,
/// graceful stop. Runs the binary `swift test` built next to the test bundle.
@Suite(.timeLimit(.minutes(3)))
struct CLITests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static var binary: URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("pigeonhole")
    }

    static func run(_ args: [String], environment: [String: String] = [:]) throws -> Run {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func tempDir() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ph-cli-\(UUID().uuidString)").path
        return dir
    }

    @Test func helpAndUsageErrors() throws {
        let help = try Self.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("pigeonhole serve"))
        let serveHelp = try Self.run(["serve", "--help"])
        #expect(serveHelp.status == 0)
        #expect(serveHelp.stdout.contains("--max-connections"))
        #expect(serveHelp.stdout.contains("PIGEONHOLE_PORT"))
        let unknown = try Self.run(["serve", "--no-such-flag"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("unknown flag --no-such-flag"))
        #expect(unknown.stderr.contains("usage: pigeonhole serve"))
        #expect(try Self.run(["frobnicate"]).status == 2)
        #expect(try Self.run(["serve", "--port", "99999"]).status == 2)
        #expect(try Self.run(["serve", "--durability", "sometimes"]).status == 2)
    }

    /// Flags are validated, then the port is bound, and only then is the data
    /// directory touched: a bad flag or a taken port leaves nothing behind.
    @Test func aBadFlagOrATakenPortLeavesNoDataBehind() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bogus = try Self.run(["serve", "--durability", "bogus", "--data-dir", dir])
        #expect(bogus.status == 2)
        #expect(bogus.stderr.contains("--durability"))
        #expect(!FileManager.default.fileExists(atPath: dir))

        // A port in use: one line, exit 1, and no admin token or database created.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, len) } }
        #expect(listen(holder, 1) == 0)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        let taken = try Self.run(["serve", "--port", "\(port)", "--data-dir", dir])
        #expect(taken.status == 1)
        #expect(taken.stderr.contains("Address already in use"))
        #expect(!taken.stderr.contains("usage:"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/admin-token"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/pigeonhole.sqlite"))
    }

    /// A runtime failure of `loadtest` (the server refuses the admin token) is one
    /// clear line and exit code 1, not the usage text.
    @Test func loadtestWithAWrongAdminTokenFailsInOneLine() throws {
        try TestServer.with { server in
            let run = try Self.run(["loadtest", "--url", "http://127.0.0.1:\(server.port)", "--admin-token", "pha_wrong",
                                    "--duration", "200ms", "--users", "2"])
            #expect(run.status == 1)
            #expect(!run.stderr.contains("usage:"))
            let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("pigeonhole:") }
            #expect(lines.count == 1)
            #expect(lines.first?.contains("401") == true)
        }
    }

    /// A malformed or unreachable URL among several is found before anything is
    /// provisioned: one line naming it, exit code 1.
    @Test func loadtestRefusesABadURLAmongSeveralInOneLine() throws {
        try TestServer.with { server in
            let good = "http://127.0.0.1:\(server.port)"
            for (urls, bad) in [(["--url", "\(good),http://127.0.0.1:x"], "http://127.0.0.1:x"),
                                (["--url", good, "--url", "http://127.0.0.1:1"], "http://127.0.0.1:1")] {
                let run = try Self.run(["loadtest", "--admin-token", TestServer.adminToken, "--duration", "200ms", "--users", "2"] + urls)
                #expect(run.status == 1, "\(urls)")
                #expect(!run.stderr.contains("usage:"))
                #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
                #expect(run.stderr.hasPrefix("pigeonhole: --url") && run.stderr.contains(bad), "\(run.stderr)")
            }
        }
    }

    /// `--url` may be repeated and PIGEONHOLE_URL may hold a list: the command line's
    /// values replace the environment's list whole, and a list from the environment is
    /// read entry by entry (its bad entry named).
    @Test func loadtestURLsOnTheCommandLineReplaceTheEnvironmentsList() throws {
        try TestServer.with { server in
            let good = "http://127.0.0.1:\(server.port)"
            let common = ["loadtest", "--admin-token", "pha_wrong", "--duration", "200ms", "--users", "2"]
            // The environment's bad entry is never read: the run gets as far as the admin token.
            let replaced = try Self.run(common + ["--url", good, "--url", good],
                                        environment: ["PIGEONHOLE_URL": "http://127.0.0.1:x,\(good)"])
            #expect(replaced.status == 1)
            #expect(replaced.stderr.contains("401") && !replaced.stderr.contains("127.0.0.1:x"), "\(replaced.stderr)")
            let fromEnvironment = try Self.run(common, environment: ["PIGEONHOLE_URL": "\(good),http://127.0.0.1:x"])
            #expect(fromEnvironment.status == 1)
            #expect(fromEnvironment.stderr.hasPrefix("pigeonhole: --url 'http://127.0.0.1:x'"), "\(fromEnvironment.stderr)")
        }
    }

    /// Two URLs (one repeated flag, two spellings) that reach the same server: the
    /// devices and (with --route spread) the senders are spread over both, every delivery
    /// verifies, and the report counts per URL. Two --server-pid are summed.
    @Test func loadtestSpreadsOverSeveralURLs() throws {
        try TestServer.with { server in
            let urls = ["http://127.0.0.1:\(server.port)", "http://localhost:\(server.port)"]
            let run = try Self.run(["loadtest", "--url", urls[0], "--url", urls[1], "--admin-token", TestServer.adminToken,
                                    "--scenario", "dm", "--users", "8", "--devices-per-user", "2", "--senders", "4", "--route", "spread",
                                    "--idle", "6", "--duration", "700ms", "--json",
                                    "--server-pid", "\(getpid())", "--server-pid", "\(getppid())"])
            #expect(run.status == 0, "\(run.stderr)")
            let report = try JSONParser.parse(run.stdout)
            #expect(report["violations"]?.intValue == 0)
            #expect((report["messages"]?.intValue ?? 0) > 0)
            #expect(report["delivered"] == report["expected_deliveries"])
            #expect(report["unread_check"]?.stringValue == "exact")
            let nodes = report["urls"]?.arrayValue ?? []
            #expect(nodes.map { $0["url"]?.stringValue } == urls)
            #expect(nodes.map { $0["devices"]?.intValue } == [8, 8])
            let requests = nodes.map { $0["requests"]?.intValue ?? 0 }
            #expect(requests.allSatisfy { $0 > 0 } && requests.reduce(0, +) == report["messages"]?.intValue, "\(requests)")
            #expect(report["route"]?.stringValue == "spread")
            #expect(nodes.map { $0["idle"]?.intValue } == [3, 3])
            #expect(report["server"]?["pids"]?.arrayValue?.count == 2)
        }
    }

    @Test func adminCommandsForScripting() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let add = try Self.run(["user", "add", "alice", "--data-dir", dir])
        #expect(add.status == 0)
        #expect(add.stdout.contains("created user alice"))
        let again = try Self.run(["user", "add", "alice", "--data-dir", dir])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists"))
        #expect(try Self.run(["user", "add", "Not Valid", "--data-dir", dir]).status == 1)

        // The token alone on stdout, so `TOKEN=$(pigeonhole device add alice phone)` works.
        let device = try Self.run(["device", "add", "alice", "phone"], environment: ["PIGEONHOLE_DATA_DIR": dir])
        #expect(device.status == 0)
        let token = device.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("ph_") && token.count > 40 && !token.contains("\n"))
        let list = try Self.run(["device", "list", "alice", "--data-dir", dir])
        #expect(list.status == 0)
        #expect(list.stdout.contains("phone"))
        #expect(!list.stdout.contains(token))   // the token is shown once, never listed
        let id = try #require(list.stdout.split(separator: "\n").dropFirst().first?.split(separator: "\t").first)
        #expect(try Self.run(["device", "revoke", String(id), "--data-dir", dir]).status == 0)
        #expect(try Self.run(["device", "list", "alice", "--data-dir", dir]).stdout.contains("\tyes"))
        #expect(try Self.run(["device", "revoke", "999", "--data-dir", dir]).status == 1)
        #expect(try Self.run(["device", "add", "nobody", "x", "--data-dir", dir]).status == 1)
    }

    @Test func serveStopsGracefullyOnSIGTERMAndCheckpoints() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.run(["migrate", "--data-dir", dir]).status == 0)
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["serve", "--port", "0", "--data-dir", dir, "--log-level", "info"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        // Wait for "listening", then stop it.
        var log = ""
        let deadline = Date().addingTimeInterval(10)
        while !log.contains("msg=listening") && Date() < deadline {
            log += String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(log.contains("msg=listening"))
        #expect(log.contains("generated admin token"))
        #expect(!log.contains("pha_"))   // the token itself is never logged
        let tokenFile = dir + "/admin-token"
        let attrs = try FileManager.default.attributesOfItem(atPath: tokenFile)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        p.terminate()   // SIGTERM
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        log += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("msg=stopped"))
        let wal = (try? FileManager.default.attributesOfItem(atPath: dir + "/pigeonhole.sqlite-wal")[.size] as? NSNumber)?.intValue ?? 0
        #expect(wal == 0)   // checkpointed (TRUNCATE) on the way out
    }

    /// `pigeonhole loadtest` against a real server: every scenario shape and both
    /// transports finish with zero violations, and the JSON report carries the figures;
    /// with `--changes`, in a normal and a hot room, the devices converge.
    @Test(arguments: [
        ["--scenario", "dm", "--users", "8", "--devices-per-user", "2"],
        ["--scenario", "mixed", "--users", "24", "--transport", "websocket", "--idle", "20"],
        ["--scenario", "hot:12", "--receivers", "6", "--idle", "20", "--rate", "200"],
        ["--scenario", "group:6", "--devices-per-user", "2", "--changes", "0.4"],
        ["--scenario", "hot:12", "--receivers", "4", "--changes", "0.4"],
    ])
    func loadtestVerifiesARealRun(_ args: [String]) throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 10 }) { server in
            let run = try Self.run(["loadtest", "--url", "http://127.0.0.1:\(server.port)", "--admin-token", TestServer.adminToken,
                                    "--senders", "4", "--duration", "700ms", "--json", "--server-pid", "\(getpid())"] + args)
            #expect(run.status == 0, "\(run.stderr)")
            let report = try JSONParser.parse(run.stdout)
            #expect(report["violations"]?.intValue == 0)
            #expect((report["messages"]?.intValue ?? 0) > 0)
            #expect(report["delivered"] == report["expected_deliveries"])
            #expect(report["errors"]?.intValue == 0)
            #expect(report["unread_check"]?.stringValue == "exact")
            #expect((report["server"]?["rss_bytes_end"]?.intValue ?? 0) > 0)
            if args.contains("hot:12") { #expect(report["hot_rooms"]?.intValue == 1) }
            if args.contains("--changes") {
                // Edits, recalls and reactions were made, and every device converged on them.
                let changes = try #require(report["changes"])
                #expect(changes["converged"] == .bool(true))
                #expect(["edits", "recalls", "reactions_added"].allSatisfy { (changes[$0]?.intValue ?? 0) > 0 }, "\(changes)")
                #expect((changes["states_compared"]?.intValue ?? 0) > 0)
            } else {
                #expect(report["changes"] == nil)
            }
            #expect(report["urls"]?.arrayValue?.count == 1)
        }
    }
}
