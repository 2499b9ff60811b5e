import HTTPClient
import HTTPServer
import Logging
import SyncEngine

/// Everything `pigeonhole serve` runs, wired in one place: the engine over a store
/// (which the caller opens: SQLite or PostgreSQL), the API with one Notifier lane per
/// event loop, the push dispatcher and the HTTP server. Tests start the same thing on
/// port 0.
public final class PigeonholeServer: Sendable {
    public struct Configuration: Sendable {
        public var http = HTTPServerConfiguration()
        public var api: APIConfiguration

        public init(adminToken: String) { api = APIConfiguration(adminToken: adminToken) }
    }

    public let configuration: Configuration
    public let engine: SyncEngine
    public let http: HTTPServer
    let api: PigeonholeAPI
    let log: Logger
    let pushes: PushDispatcher?

    /// Binds first (unless `listener` was bound by the caller), so a taken port fails
    /// before anything else is done. The server owns `store` from here on (its
    /// `shutdown` stops it; so does a failed init), and the listener once built (a
    /// failed init leaves a caller's listener open for the caller to close).
    public convenience init(configuration: Configuration, store: any SyncStore, logger: Logger = Logger(),
                            listener: HTTPListener? = nil) throws {
        let bound: HTTPListener
        do {
            bound = try listener ?? HTTPListener.bind(host: configuration.http.host, port: configuration.http.port)
        } catch {
            store.stop()
            throw error
        }
        do {
            try self.init(bound: configuration, store: store, logger: logger, listener: bound)
        } catch {
            if listener == nil { bound.close() }   // a caller's listener stays the caller's to close
            store.stop()
            throw error
        }
    }

    private init(bound configuration: Configuration, store: any SyncStore, logger: Logger, listener: HTTPListener) throws {
        self.configuration = configuration
        self.log = logger
        var engineConfig = configuration.api.engine
        var webhook: HTTPClient.URLParts? = nil
        if let url = configuration.api.pushWebhook {
            webhook = try HTTPClient.parse(url)
            engineConfig.pushEnabled = true
        }
        engine = SyncEngine(store: store, config: engineConfig, clock: configuration.api.clocks.wallMillis)
        if let webhook {
            pushes = PushDispatcher(engine: engine, webhook: webhook,
                                    pollInterval: configuration.api.pushPollInterval, timeout: configuration.api.pushTimeout,
                                    log: logger)
        } else {
            pushes = nil
        }
        api = PigeonholeAPI(engine: engine, config: configuration.api, log: logger)
        http = try HTTPServer(configuration: configuration.http, handler: api, logger: logger, listener: listener)
        let http = self.http
        let notifier = engine.notifier
        let engine = self.engine
        api.perLoop.withLock { parts in
            parts = http.loops.map { loop in PigeonholeAPI.LoopParts(
                lane: notifier.addLane { loop.execute($0) },
                continuations: PullContinuations(loop: loop, notifier: notifier, adopted: api.adoptedContinuations,
                                                 lifetime: configuration.api.pullContinuationLifetime,
                                                 capacity: configuration.api.pullContinuationCapacity),
                hotWakes: HotWakeChecks(loop: loop, engine: engine, reads: api.hotWakeReads)) }
        }
        // The only upgrade the API makes is a /v1/notify WebSocket.
        api.gauges.withLock { $0 = { Metrics.Gauges(connections: http.openConnections, webSockets: http.openUpgradedConnections) } }
    }

    public var port: UInt16 { http.port }

    public func start() {
        engine.startBackgroundJobs()
        pushes?.start()
        http.start()
        log.info("listening", ["host": configuration.http.host, "port": http.port, "threads": http.loops.count])
    }

    /// Stop accepting, answer parked polls, finish in-flight requests, drain the
    /// store's write queue and close it (SQLite: checkpoint the WAL).
    public func shutdown(grace: Duration = .seconds(5)) {
        http.shutdown(grace: grace)
        pushes?.stop()
        engine.stopBackgroundJobs()
        engine.store.stop()
        log.info("stopped")
    }
}
