import Glibc
import Sockets

/// A bound, listening socket, taken before anything else at start-up so a taken port
/// fails before a data directory or database is touched. Handed to `HTTPServer`,
/// which owns (and closes) it; `close()` it if the server is never built.
public struct HTTPListener: Sendable {
    public let fd: Int32
    public let port: UInt16

    public static func bind(host: String, port: UInt16) throws -> HTTPListener {
        let (fd, bound) = try Socket.listen(host: host, port: port)
        return HTTPListener(fd: fd, port: bound)
    }

    public func close() { Glibc.close(fd) }
}
