import Glibc

/// The server's RSS and CPU time, from /proc (for --server-pid).
package struct ServerProcess {
    let pid: Int32

    package init(_ pid: Int32) { self.pid = pid }

    private func read(_ file: String) -> String? {
        guard let f = fopen("/proc/\(pid)/\(file)", "r") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    package func rssBytes() -> Int? {
        guard let status = read("status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// utime + stime (fields 14 and 15 of /proc/PID/stat, after the parenthesised name).
    func cpuSeconds() -> Double? {
        guard let stat = read("stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// Several server processes (`--server-pid` repeated): their figures summed.
extension [ServerProcess] {
    func rssBytes() -> Int? {
        let each = compactMap { $0.rssBytes() }
        return each.isEmpty ? nil : each.reduce(0, +)
    }

    func cpuSeconds() -> Double? {
        let each = compactMap { $0.cpuSeconds() }
        return each.isEmpty ? nil : each.reduce(0, +)
    }
}
