import Dispatch
import Glibc
import Logging
import Sockets
import Synchronization

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

/// An HTTP/1.1 server: one epoll loop per thread. All loops watch the one listening
/// socket (EPOLLEXCLUSIVE: one loop is woken per new connection); a connection then
/// lives on the loop that accepted it, so parsing and responses never cross threads.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    public let port: UInt16
    public let loops: [EventLoop]
    let contexts: [LoopContext]
    let handler: any HTTPHandler
    let logger: Logger
    let stats = ServerStats()
    private let listenFD: Int32

    /// Binds `configuration.host:port` unless a `listener` bound earlier is given.
    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler, logger: Logger = Logger(),
                listener: HTTPListener? = nil) throws {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        Socket.raiseOpenFileLimit()
        var loops: [EventLoop] = []
        var contexts: [LoopContext] = []
        let bound = try listener ?? HTTPListener.bind(host: configuration.host, port: configuration.port)
        let (fd, port) = (bound.fd, bound.port)
        self.listenFD = fd
        for i in 0..<max(1, configuration.threads) {
            let loop: EventLoop
            do { loop = try EventLoop(index: i) } catch { if listener == nil { bound.close() }; throw error }
            loops.append(loop)
            contexts.append(LoopContext(loop: loop, listenFD: fd, config: configuration, handler: handler,
                                        stats: stats, log: logger))
        }
        self.port = port
        self.loops = loops
        self.contexts = contexts
    }

    public func start() {
        for (loop, context) in zip(loops, contexts) {
            loop.execute { context.startListening() }
            loop.start(name: "loop-\(loop.index)")
        }
    }

    /// Open connections across all loops (including refused ones being answered).
    public var openConnections: Int { stats.connections.load(ordering: .relaxed) }
    /// Requests being handled right now (parked long-polls included).
    public var inFlightRequests: Int { stats.inFlight.load(ordering: .relaxed) }
    /// Open connections that switched protocols (WebSockets; a subset of `openConnections`).
    public var openUpgradedConnections: Int { stats.upgraded.load(ordering: .relaxed) }

    /// Graceful stop: stop accepting, close idle connections, let in-flight requests
    /// finish for up to `grace`, then close whatever is left and stop the loops.
    public func shutdown(grace: Duration = .seconds(5)) {
        let drained = DispatchSemaphore(value: 0)
        for (loop, context) in zip(loops, contexts) {
            loop.execute {
                context.beginDrain()
                drained.signal()
            }
        }
        for _ in loops { drained.wait() }
        // Only now, with no loop watching it, may the shared socket close (its fd number
        // could otherwise be reused under a loop's epoll_ctl).
        Glibc.close(listenFD)
        handler.shutdownRequested()
        let deadline = MonotonicClock.now() &+ grace.nanoseconds
        while stats.connections.load(ordering: .relaxed) > 0 && MonotonicClock.now() < deadline {
            usleep(10_000)
        }
        for (loop, context) in zip(loops, contexts) {
            loop.execute { context.closeAll() }
            loop.stop()
        }
        for loop in loops { loop.waitUntilExited() }
    }
}

final class ServerStats: Sendable {
    let connections = Atomic<Int>(0)
    let refusing = Atomic<Int>(0)
    let inFlight = Atomic<Int>(0)
    let upgraded = Atomic<Int>(0)
    /// Open (admitted) connections per client address, for the per-address cap.
    private let perAddress = Mutex<[String: Int]>([:])

    /// Counts a new connection from `address` unless that would pass `limit` (0 = none).
    func admitAddress(_ address: String, limit: Int) -> Bool {
        guard limit > 0 else { return true }
        return perAddress.withLock { counts in
            let n = counts[address, default: 0]
            guard n < limit else { return false }
            counts[address] = n + 1
            return true
        }
    }

    func releaseAddress(_ address: String, limit: Int) {
        guard limit > 0 else { return }
        perAddress.withLock { counts in
            let n = counts[address, default: 0]
            if n <= 1 { counts[address] = nil } else { counts[address] = n - 1 }
        }
    }
}

/// Everything one loop needs to serve its connections. Loop thread only (see EventLoop).
final class LoopContext: LoopRegistrant, @unchecked Sendable {
    let loop: EventLoop
    let config: HTTPServerConfiguration
    let handler: any HTTPHandler
    let stats: ServerStats
    let log: Logger
    var encoder: ResponseEncoder
    private let listenFD: Int32
    private var listening = false
    private var listenToken: UInt64 = 0
    private var connections: [UInt64: Connection] = [:]
    private(set) var draining = false
    /// A reserved descriptor: on EMFILE we close it to accept and drop one connection,
    /// so a level-triggered listener does not spin on an unacceptable backlog.
    private var spareFD: Int32 = -1

    init(loop: EventLoop, listenFD: Int32, config: HTTPServerConfiguration, handler: any HTTPHandler,
         stats: ServerStats, log: Logger) {
        self.loop = loop
        self.listenFD = listenFD
        self.config = config
        self.handler = handler
        self.stats = stats
        self.log = log
        self.encoder = ResponseEncoder(gzipMinBytes: config.gzipMinBytes)
    }

    func startListening() {
        spareFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        // Level-triggered: a backlog we could not drain (EMFILE) is reported again.
        // EPOLLEXCLUSIVE: of the loops sharing the socket, only one is woken.
        listenToken = loop.register(fd: listenFD, events: [.readable, .exclusive], self)
        listening = true
        scheduleSweep()
    }

    /// Accept events on the listener.
    func handleEvents(_ events: IOEvents) {
        for _ in 0..<64 {   // bounded per wake-up so one loop's accepts don't starve its I/O
            guard let (fd, peer) = Socket.accept(listenFD) else {
                if errno == EMFILE || errno == ENFILE { shedOne() }
                return
            }
            let open = stats.connections.load(ordering: .relaxed)
            var refusal: Connection.Refusal? = nil
            if open >= config.maxConnections {
                refusal = .serverFull
            } else if !stats.admitAddress(peer, limit: config.maxConnectionsPerAddress) {
                refusal = .addressFull
            }
            if refusal != nil {
                // Over a cap: answer politely with 503, but never let refusals pile up.
                if stats.refusing.load(ordering: .relaxed) >= 256 {
                    Glibc.close(fd)
                    continue
                }
                stats.refusing.wrappingAdd(1, ordering: .relaxed)
            } else {
                stats.connections.wrappingAdd(1, ordering: .relaxed)
            }
            let conn = Connection(fd: fd, peer: peer, context: self, refusal: refusal)
            conn.token = loop.register(fd: fd, events: [.readable, .peerShutdown, .edgeTriggered], conn)
            connections[conn.token] = conn
        }
    }

    private func shedOne() {
        guard spareFD >= 0 else { return }
        Glibc.close(spareFD)
        if let (fd, _) = Socket.accept(listenFD) { Glibc.close(fd) }
        spareFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        log.warn("out of file descriptors; dropped a connection")
    }

    func connectionClosed(_ conn: Connection) {
        connections[conn.token] = nil
        if conn.refused {
            stats.refusing.wrappingAdd(-1, ordering: .relaxed)
        } else {
            stats.connections.wrappingAdd(-1, ordering: .relaxed)
            stats.releaseAddress(conn.peer, limit: config.maxConnectionsPerAddress)
        }
    }

    func requestStarted() {
        stats.inFlight.wrappingAdd(1, ordering: .relaxed)
    }

    func requestFinished() { stats.inFlight.wrappingAdd(-1, ordering: .relaxed) }

    /// Connection timeouts are checked by a periodic sweep (cheap: a comparison per
    /// connection) instead of one heap timer per connection per request.
    private func scheduleSweep() {
        let shortest = min(config.headerTimeout, config.idleTimeout, config.bodyTimeout, config.writeTimeout)
        let interval = max(min(shortest / 4, .seconds(1)), .milliseconds(10))
        loop.schedule(after: interval) { [self] in
            let now = MonotonicClock.now()
            for conn in connections.values { conn.checkTimeout(now: now) }
            if !(draining && connections.isEmpty) { scheduleSweep() }
        }
    }

    func beginDrain() {
        draining = true
        if listening {
            // The socket is shared: each loop stops watching it; the server closes it.
            loop.unregister(fd: listenFD, token: listenToken)
            listening = false
        }
        for conn in Array(connections.values) { conn.closeIfIdle() }
    }

    func closeAll() {
        for conn in Array(connections.values) { conn.close() }
        if spareFD >= 0 { Glibc.close(spareFD); spareFD = -1 }
    }
}
