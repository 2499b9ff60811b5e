import Glibc
import HTTPServer
import Logging
import SyncEngine

/// The admin token: from `--admin-token` / PIGEONHOLE_ADMIN_TOKEN, else from
/// `<data-dir>/admin-token`, generated there on first start with mode 0600.
/// The token itself is never logged, only where it is.
enum AdminToken {
    static func resolve(explicit: String?, dataDirectory: String, log: Logger) throws -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        let path = dataDirectory + "/admin-token"
        if let existing = readFile(path)?.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first, !existing.isEmpty {
            return String(existing)
        }
        let token = try Tokens.newAdminToken()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CommandFailure("cannot create \(path): \(String(cString: strerror(errno)))") }
        let line = Array((token + "\n").utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        log.info("generated admin token", ["path": path])
        return token
    }

    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
