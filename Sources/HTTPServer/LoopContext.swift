import Glibc
import Logging
import Sockets

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
