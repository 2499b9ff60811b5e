import Glibc
import HTTPServer
import Sockets

/// The server's data directory (`--data-dir`): the SQLite database, the admin token.
public enum DataDirectory {
    /// Creates the directory (and parents) with mode 0700 if missing.
    public static func create(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw SocketError.system(call: "mkdir \(prefix)", errno: errno)
            }
            prefix += "/"
        }
    }
}
