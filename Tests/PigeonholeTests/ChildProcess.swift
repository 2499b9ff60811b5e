import Foundation
import Glibc

/// `pigeonhole serve` in its own process, for attacks that would disturb the shared
/// test process (file-descriptor limits, process-wide descriptor swaps, traps).
final class ChildServer {
    let process = Process()
    let port: UInt16
    let directory: String
    private let stderr = Pipe()
    private(set) var log = ""

    /// Starts the binary `swift test` built, through `/bin/sh` so `shellPrefix` (e.g.
    /// `ulimit -n 64;`) applies to it alone, and waits for its "listening" line.
    init(arguments: [String] = [], shellPrefix: String = "") throws {
        directory = CLITests.tempDir()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let args = ["serve", "--port", "0", "--data-dir", directory, "--admin-token", TestServer.adminToken,
                    "--log-level", "info", "--threads", "1"] + arguments
        process.arguments = ["-c", shellPrefix + #" exec "$0" "$@""#, CLITests.binary.path] + args
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        var found: UInt16?
        while found == nil && Date() < deadline && process.isRunning {
            log += String(decoding: stderr.fileHandleForReading.availableData, as: UTF8.self)
            if let line = log.split(separator: "\n").first(where: { $0.contains("msg=listening") }),
               let field = line.split(separator: " ").first(where: { $0.hasPrefix("port=") }) {
                found = UInt16(field.dropFirst(5))
            }
        }
        guard let found else {
            process.terminate()
            throw TestFailure("child server did not start: \(log)")
        }
        port = found
    }

    var pid: Int32 { process.processIdentifier }

    /// Descriptors the child has open (from /proc).
    var openFDs: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }

    /// SIGTERM, wait, and the rest of its log; removes its data directory.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        log += String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try? FileManager.default.removeItem(atPath: directory)
        return process.terminationStatus
    }
}

/// This test binary run again with one test selected, in its own process, with
/// `PIGEONHOLE_TEST_CHILD=marker` set so the test knows it is the child.
enum TestChild {
    static func run(filter: String, marker: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["--testing-library", "swift-testing", "--filter", filter]
        var env = ProcessInfo.processInfo.environment
        env["PIGEONHOLE_TEST_CHILD"] = marker
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
