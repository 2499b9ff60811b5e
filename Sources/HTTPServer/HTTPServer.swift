import Dispatch
import Glibc
import Logging
import Sockets
import Synchronization

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
