import Glibc

/// An `HTTPServer`'s address, threads and the bounds every connection is held to.
public struct HTTPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port: UInt16 = 8080
    /// Event loops (threads). Default: one per core.
    public var threads = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    public var maxConnections = 10_000
    /// Open connections from one client address; over it a connection gets a 503.
    /// 0 = no limit (behind a load balancer every client shares its address).
    public var maxConnectionsPerAddress = 1_000
    public var maxHeaderBytes = 16 * 1024
    public var maxBodyBytes = 1 << 20
    public var headerTimeout: Duration = .seconds(10)
    /// Total time a request body has to arrive, counted from the end of its head
    /// (not reset per byte: a trickle of one byte per second is still cut off).
    public var bodyTimeout: Duration = .seconds(30)
    /// Queued output that does not move for this long closes the connection (a client
    /// that never reads its answers).
    public var writeTimeout: Duration = .seconds(30)
    public var idleTimeout: Duration = .seconds(75)
    public var gzipMinBytes = 1024

    public init() {}
}
