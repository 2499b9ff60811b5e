import Glibc
import HTTPServer
import SyncEngine

/// Everything `pigeonhole serve` runs, wired in one place: the writer (which applies
/// migrations on its own connection before taking commands), the engine, one read
/// connection per loop, the API and the HTTP server. Tests start the same thing on
/// port 0.
public final class PigeonholeServer: Sendable {
    public struct Configuration: Sendable {
        public var http = HTTPServerConfiguration()
        public var dataDirectory = "./data"
        public var durability: Database.Durability = .full
        /// How long a connection waits for a lock held by another process (e.g. a
        /// backup or the sqlite3 shell) before the request fails with 503
        /// `storage_unavailable`. Tests shorten it.
        public var busyTimeoutMilliseconds: Int32 = Database.Options().busyTimeoutMilliseconds
        public var api: APIConfiguration
        public var databaseFileName = "pigeonhole.sqlite"

        public init(adminToken: String) { api = APIConfiguration(adminToken: adminToken) }

        public var databasePath: String { dataDirectory + "/" + databaseFileName }
    }

    public let configuration: Configuration
    public let engine: SyncEngine
    public let http: HTTPServer
    let api: PigeonholeAPI
    let reads: ReadPool
    let log: Logger
    let pushes: PushDispatcher?

    /// Binds first (unless `listener` was bound by the caller), so a taken port fails
    /// before the data directory or the database is touched.
    public convenience init(configuration: Configuration, logger: Logger = Logger(), listener: HTTPListener? = nil) throws {
        let listener = try listener ?? HTTPListener.bind(host: configuration.http.host, port: configuration.http.port)
        do {
            try self.init(bound: configuration, logger: logger, listener: listener)
        } catch {
            listener.close()
            throw error
        }
    }

    private init(bound configuration: Configuration, logger: Logger, listener: HTTPListener) throws {
        self.configuration = configuration
        self.log = logger
        try DataDirectory.create(configuration.dataDirectory)
        let dbOptions = Database.Options(durability: configuration.durability,
                                         busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        let log = logger
        let writer = try Writer(path: configuration.databasePath, options: Writer.Options(database: dbOptions)) { db in
            let applied = try MigrationRunner.apply(Schema.migrations, to: db)
            for m in applied { log.info("applied migration", ["version": m.version, "name": m.name]) }
        }
        var engineConfig = configuration.api.engine
        var webhook: HTTPClient.URLParts? = nil
        if let url = configuration.api.pushWebhook {
            webhook = try HTTPClient.parse(url)
            engineConfig.pushEnabled = true
        }
        engine = SyncEngine(writer: writer, config: engineConfig)
        if let webhook {
            pushes = PushDispatcher(engine: engine, webhook: webhook,
                                    db: try Database(path: configuration.databasePath, mode: .readOnly, options: dbOptions),
                                    pollInterval: configuration.api.pushPollInterval, timeout: configuration.api.pushTimeout,
                                    log: logger)
        } else {
            pushes = nil
        }
        reads = try ReadPool(path: configuration.databasePath, count: max(1, configuration.http.threads), options: dbOptions)
        api = PigeonholeAPI(engine: engine, reads: reads, config: configuration.api, log: logger)
        http = try HTTPServer(configuration: configuration.http, handler: api, logger: logger, listener: listener)
        let http = self.http
        api.gauges.withLock { $0 = { Metrics.Gauges(connections: http.openConnections, webSockets: http.openWebSockets) } }
    }

    public var port: UInt16 { http.port }

    public func start() {
        engine.startBackgroundJobs()
        pushes?.start()
        http.start()
        log.info("listening", ["host": configuration.http.host, "port": http.port, "threads": http.loops.count,
                               "db": configuration.databasePath, "durability": configuration.durability.rawValue.lowercased()])
    }

    /// Stop accepting, answer parked polls, finish in-flight requests, drain the writer,
    /// checkpoint the WAL, close.
    public func shutdown(grace: Duration = .seconds(5)) {
        http.shutdown(grace: grace)
        pushes?.stop()
        engine.stopBackgroundJobs()
        engine.writer.stop()
        reads.closeAll()
        log.info("stopped")
    }
}

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
