import Dispatch
import Glibc
import HTTPServer
import PostgresBackend
import Synchronization
import SQLiteBackend
import SQLiteStore
import SyncAPI
import SyncEngine
import Logging
import HTTPClient
import LoadTester

let serveFlags: [Flag] = [
    Flag(name: "host", env: "PIGEONHOLE_HOST", value: "ADDR", help: "IPv4 address to listen on (default 127.0.0.1)"),
    Flag(name: "port", env: "PIGEONHOLE_PORT", value: "N", help: "TCP port (default 8080; 0 = any free port)"),
    Flag(name: "database", env: "PIGEONHOLE_DATABASE_URL", value: "URL", help: "sqlite: (default: embedded SQLite in --data-dir) or postgres://USER[:PASS]@HOST[:PORT]/DB[?...] (several nodes over one PostgreSQL)"),
    Flag(name: "data-dir", env: "PIGEONHOLE_DATA_DIR", value: "DIR", help: "where the SQLite database and the generated admin token live (default ./data)"),
    Flag(name: "db-pool", env: "PIGEONHOLE_DB_POOL", value: "N", help: "PostgreSQL: read connections (and read threads) per node, besides the writer's, the listener's and presence's (default 8)"),
    Flag(name: "db-writers", env: "PIGEONHOLE_DB_WRITERS", value: "N", help: "PostgreSQL: writer connections per node, each group-committing a room's units (default 2)"),
    Flag(name: "threads", env: "PIGEONHOLE_THREADS", value: "N", help: "event loops (default: one per core)"),
    Flag(name: "max-connections", env: "PIGEONHOLE_MAX_CONNECTIONS", value: "N", help: "open connections before 503 (default 10000)"),
    Flag(name: "max-connections-per-address", env: "PIGEONHOLE_MAX_CONNECTIONS_PER_ADDRESS", value: "N", help: "open connections from one client address before 503 (default 1000; 0 = no limit, e.g. behind a load balancer)"),
    Flag(name: "durability", env: "PIGEONHOLE_DURABILITY", value: "full|normal", help: "SQLite synchronous mode (default full; PostgreSQL always commits with synchronous_commit on)"),
    Flag(name: "admin-token", env: "PIGEONHOLE_ADMIN_TOKEN", value: "TOKEN", help: "admin token (default: generated into DIR/admin-token; required with PostgreSQL: the same on every node)"),
    Flag(name: "header-timeout", env: "PIGEONHOLE_HEADER_TIMEOUT", value: "SECONDS", help: "time to send request headers (default 10)"),
    Flag(name: "idle-timeout", env: "PIGEONHOLE_IDLE_TIMEOUT", value: "SECONDS", help: "keep-alive idle time (default 75)"),
    Flag(name: "body-timeout", env: "PIGEONHOLE_BODY_TIMEOUT", value: "SECONDS", help: "total time to send a request body (default 30)"),
    Flag(name: "write-timeout", env: "PIGEONHOLE_WRITE_TIMEOUT", value: "SECONDS", help: "close a connection whose unsent output has not moved for this long (default 30)"),
    Flag(name: "max-body-bytes", env: "PIGEONHOLE_MAX_BODY_BYTES", value: "N", help: "transport request body limit (default 1048576)"),
    Flag(name: "poll-timeout-max", env: "PIGEONHOLE_POLL_TIMEOUT_MAX", value: "SECONDS", help: "longest long-poll wait (default 55)"),
    Flag(name: "hot-threshold", env: "PIGEONHOLE_HOT_THRESHOLD", value: "N", help: "members at which a room uses read diffusion (default 500)"),
    Flag(name: "rooms-per-user", env: "PIGEONHOLE_ROOMS_PER_USER", value: "N", help: "rooms one user may be in; adding them to one more is 409 room_limit (default 500; 0 = no limit)"),
    Flag(name: "offline-retention", env: "PIGEONHOLE_OFFLINE_RETENTION", value: "DURATION", help: "keep undelivered inbox events (default 7d; 0 = forever)"),
    Flag(name: "history-retention", env: "PIGEONHOLE_HISTORY_RETENTION", value: "DURATION", help: "keep messages (default 180d; 0 = forever)"),
    Flag(name: "push-webhook", env: "PIGEONHOLE_PUSH_WEBHOOK", value: "URL", help: "POST offline pushes to this http:// URL (default: none)"),
    Flag(name: "push-max-attempts", env: "PIGEONHOLE_PUSH_MAX_ATTEMPTS", value: "N", help: "attempts before a push is dead (default 8)"),
    Flag(name: "send-rate", env: "PIGEONHOLE_SEND_RATE", value: "N", help: "sends per second per device, sustained (default 20; 0 = no limit)"),
    Flag(name: "send-burst", env: "PIGEONHOLE_SEND_BURST", value: "N", help: "sends a device may burst above the rate (default 40)"),
    Flag(name: "room-rate", env: "PIGEONHOLE_ROOM_RATE", value: "N", help: "rooms (groups and direct) created per second per device, sustained (default 1; 0 = no limit)"),
    Flag(name: "room-burst", env: "PIGEONHOLE_ROOM_BURST", value: "N", help: "rooms a device may create at once above the rate (default 20)"),
    Flag(name: "member-rate", env: "PIGEONHOLE_MEMBER_RATE", value: "N", help: "members added per second per device, room creation included (default 100; 0 = no limit)"),
    Flag(name: "member-burst", env: "PIGEONHOLE_MEMBER_BURST", value: "N", help: "members a device may add at once above the rate (default 10000, at least 1000)"),
    Flag(name: "room-membership-rate", env: "PIGEONHOLE_ROOM_MEMBERSHIP_RATE", value: "N", help: "inbox rows that members added or removed may write per second per room, by anyone (default 5000, bursts of 50000; 0 = no limit)"),
    Flag(name: "waits-per-device", env: "PIGEONHOLE_WAITS_PER_DEVICE", value: "N", help: "parked pulls and open /v1/notify sockets per device on a node; over it the oldest ends (default 8; 0 = no cap)"),
    Flag(name: "auth-failures-per-minute", env: "PIGEONHOLE_AUTH_FAILURES_PER_MINUTE", value: "N", help: "failed authentications per client address (default 60, burst 20; 0 = no limit)"),
    Flag(name: "log-level", env: "PIGEONHOLE_LOG_LEVEL", value: "LEVEL", help: "debug, info, warn or error (default info)"),
    Flag(name: "no-web-client", env: "PIGEONHOLE_NO_WEB_CLIENT", value: nil, help: "do not serve the web client at / and /app/"),
    Flag(name: "help", env: nil, value: nil, help: "show this help"),
]

let dataFlags: [Flag] = [
    Flag(name: "database", env: "PIGEONHOLE_DATABASE_URL", value: "URL", help: "sqlite: (default: embedded SQLite in --data-dir) or postgres://USER[:PASS]@HOST[:PORT]/DB[?...]"),
    Flag(name: "data-dir", env: "PIGEONHOLE_DATA_DIR", value: "DIR", help: "where the SQLite database lives (default ./data)"),
    Flag(name: "log-level", env: "PIGEONHOLE_LOG_LEVEL", value: "LEVEL", help: "debug, info, warn or error (default info)"),
    Flag(name: "help", env: nil, value: nil, help: "show this help"),
]

let mainUsage = """
    pigeonhole: a message sync server for instant messaging

    usage:
      pigeonhole serve [flags]              start the server
      pigeonhole migrate [flags]            apply database migrations and exit
      pigeonhole user add NAME              create a user
      pigeonhole device add USER NAME       create a device; prints its bearer token
      pigeonhole device list USER           list a user's devices
      pigeonhole device revoke ID           revoke a device (its token stops working)
      pigeonhole demo [flags]               a server with demo users and history; prints one browser link per device
      pigeonhole loadtest [flags]           send load against a running server, verify multi-device sync
      pigeonhole help [COMMAND]             show help

    run 'pigeonhole serve --help' for the server's flags.
    """

func logger(_ flags: ParsedFlags) throws -> Logger {
    guard let name = flags.string("log-level") else { return Logger(level: .info) }
    guard let level = Logger.Level(name: name) else { throw UsageError("--log-level must be debug, info, warn or error") }
    return Logger(level: level)
}

/// The server's configuration from flags and environment, with no side effect: every
/// flag is validated here, before anything is bound or written. The admin token is
/// the explicit one, or empty until `AdminToken.resolve` fills it in.
func serverConfiguration(_ flags: ParsedFlags) throws -> ServeConfiguration {
    let dataDir = flags.string("data-dir") ?? "./data"
    let database = try DatabaseChoice(flags)
    if case .postgres = database, flags.string("admin-token") == nil {
        throw UsageError("with a PostgreSQL --database, give every node the same --admin-token (or PIGEONHOLE_ADMIN_TOKEN)")
    }
    var http = HTTPServerConfiguration()
    http.host = flags.string("host") ?? "127.0.0.1"
    http.port = UInt16(try flags.int("port", default: 8080, range: 0...65535))
    http.threads = try flags.int("threads", default: http.threads, range: 1...256)
    http.maxConnections = try flags.int("max-connections", default: http.maxConnections, range: 1...1_000_000)
    http.maxConnectionsPerAddress = try flags.int("max-connections-per-address", default: http.maxConnectionsPerAddress,
                                                  range: 0...1_000_000)
    http.headerTimeout = .seconds(try flags.int("header-timeout", default: 10, range: 1...3600))
    http.idleTimeout = .seconds(try flags.int("idle-timeout", default: 75, range: 1...86400))
    http.bodyTimeout = .seconds(try flags.int("body-timeout", default: 30, range: 1...3600))
    http.writeTimeout = .seconds(try flags.int("write-timeout", default: 30, range: 1...3600))
    http.maxBodyBytes = try flags.int("max-body-bytes", default: http.maxBodyBytes, range: 1024...(64 << 20))
    _ = try logger(flags)
    var config = PigeonholeServer.Configuration(adminToken: flags.string("admin-token") ?? "")
    config.http = http
    let durability: Database.Durability
    switch flags.string("durability") ?? "full" {
    case "full": durability = .full
    case "normal": durability = .normal
    default: throw UsageError("--durability must be full or normal")
    }
    config.api.maxPollTimeout = try flags.int("poll-timeout-max", default: 55, range: 1...3600)
    config.api.defaultPollTimeout = min(config.api.defaultPollTimeout, config.api.maxPollTimeout)
    config.api.engine.hotThreshold = try flags.int("hot-threshold", default: 500, range: 2...1_000_000)
    config.api.engine.maxRoomsPerUser = try flags.int("rooms-per-user", default: 500, range: 0...1_000_000)
    config.api.engine.offlineRetentionMillis = try durationMillis(flags.string("offline-retention") ?? "7d", flag: "offline-retention")
    config.api.engine.historyRetentionMillis = try durationMillis(flags.string("history-retention") ?? "180d", flag: "history-retention")
    if let url = flags.string("push-webhook") {
        do { _ = try HTTPClient.parse(url) } catch { throw UsageError("--push-webhook must be http://HOST[:PORT][/PATH]") }
        config.api.pushWebhook = url
    }
    config.api.engine.pushMaxAttempts = try flags.int("push-max-attempts", default: 8, range: 1...100)
    config.api.sendRatePerSecond = Double(try flags.int("send-rate", default: 20, range: 0...1_000_000))
    config.api.sendBurst = Double(try flags.int("send-burst", default: 40, range: 1...1_000_000))
    config.api.roomRatePerSecond = Double(try flags.int("room-rate", default: 1, range: 0...1_000_000))
    config.api.roomBurst = Double(try flags.int("room-burst", default: 20, range: 1...1_000_000))
    config.api.memberRatePerSecond = Double(try flags.int("member-rate", default: 100, range: 0...1_000_000))
    // A burst below one full request (members_per_request_max) would refuse it forever.
    config.api.memberBurst = Double(try flags.int("member-burst", default: 10_000, range: 1000...10_000_000))
    config.api.waitsPerDevice = try flags.int("waits-per-device", default: 8, range: 0...1_000_000)
    config.api.roomMembershipRowsPerSecond = Double(try flags.int("room-membership-rate", default: 5_000, range: 0...100_000_000))
    config.api.authFailureRatePerSecond = Double(try flags.int("auth-failures-per-minute", default: 60, range: 0...1_000_000)) / 60
    if let v = flags.string("no-web-client"), v != "0", v != "false" { config.api.webClient = false }
    return ServeConfiguration(server: config, dataDirectory: dataDir, durability: durability, database: database)
}

/// `serve`'s settings: the server's, and which store keeps the data where.
struct ServeConfiguration {
    var server: PigeonholeServer.Configuration
    var dataDirectory: String
    var durability: Database.Durability
    var database: DatabaseChoice = .sqlite

    var sqlitePath: String { dataDirectory + "/pigeonhole.sqlite" }
}

/// `--database`: the embedded SQLite store (absent or `sqlite:`), or PostgreSQL.
enum DatabaseChoice {
    case sqlite
    case postgres(PostgresSyncStore.Options)

    init(_ flags: ParsedFlags) throws {
        let pool = try flags.int("db-pool", default: 8, range: 1...256)
        guard let url = flags.string("database"), !url.isEmpty, url != "sqlite:" else {
            self = .sqlite
            return
        }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw CommandFailure("--database must be sqlite: or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, got '\(Self.redacted(url))'")
        }
        var options = PostgresSyncStore.Options(url: url, poolSize: pool)
        options.writers = try flags.int("db-writers", default: 2, range: 1...64)
        self = .postgres(options)
    }

    /// The URL without its password, for messages and logs.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// Opens the chosen store, applying migrations (each one logged). `cluster`: this
/// process serves (it hears other nodes and publishes its presence); a one-shot admin
/// command does not.
func openStore(_ config: ServeConfiguration, cluster: Bool = true, log: Logger) throws -> any SyncStore {
    switch config.database {
    case .sqlite:
        let options = SQLiteSyncStore.Options(path: config.sqlitePath, database: Database.Options(durability: config.durability))
        return try SQLiteSyncStore(options) { m in log.info("applied migration", ["version": m.version, "name": m.name]) }
    case .postgres(var options):
        options.cluster = cluster
        do {
            return try PostgresSyncStore(options) { name in log.info("applied migration", ["name": name]) }
        } catch let e as PGError {
            throw CommandFailure("cannot use PostgreSQL at \(DatabaseChoice.redacted(options.url)): \(e.message)")
        } catch let e as PostgresMigrations.Failure {
            throw CommandFailure("PostgreSQL at \(DatabaseChoice.redacted(options.url)): \(e.description)")
        }
    }
}

/// `pigeonhole serve`: runs until SIGINT/SIGTERM, then stops gracefully and exits 0.
func serve(_ flags: ParsedFlags) throws {
    let log = try logger(flags)
    var config = try serverConfiguration(flags)
    // Validate, then bind, then touch the data directory: a bad flag or a taken port
    // leaves no admin token or database behind.
    let server = try openServer(&config, explicitAdminToken: flags.string("admin-token"), log: log)
    let stop = StopSignal()
    server.start()
    stop.wait()
    log.info("shutting down")
    server.shutdown(grace: .seconds(5))
}

/// Binds the port, then creates the data directory and the admin token and opens the
/// store (in that order: a taken port leaves nothing behind), and builds the server.
func openServer(_ config: inout ServeConfiguration, explicitAdminToken: String?, log: Logger) throws -> PigeonholeServer {
    let listener = try HTTPListener.bind(host: config.server.http.host, port: config.server.http.port)
    do {
        switch config.database {
        case .sqlite:
            try DataDirectory.create(config.dataDirectory)
            config.server.api.adminToken = try AdminToken.resolve(explicit: explicitAdminToken,
                                                                   dataDirectory: config.dataDirectory, log: log)
        case .postgres:
            // Stateless: no data directory; every node has the same, given admin token.
            config.server.api.adminToken = explicitAdminToken ?? ""
        }
        let store = try openStore(config, log: log)
        let server: PigeonholeServer
        do {
            server = try PigeonholeServer(configuration: config.server, store: store, logger: log, listener: listener)
        } catch {
            store.stop()
            throw error
        }
        switch config.database {
        case .sqlite:
            log.info("database", ["path": config.sqlitePath, "durability": config.durability.rawValue.lowercased()])
        case .postgres(let options):
            log.info("database", ["postgres": DatabaseChoice.redacted(options.url), "pool": options.poolSize])
        }
        return server
    } catch {
        listener.close()
        throw error
    }
}

/// SIGINT and SIGTERM, taken over from their default action: `wait()` returns on either.
final class StopSignal {
    private let stop = DispatchSemaphore(value: 0)
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [stop] in stop.signal() }
            source.resume()
            sources.append(source)
        }
    }

    func wait() { stop.wait() }
}

/// Opens the database (applying migrations) for a one-shot admin command; `body` gets
/// the engine and the database's name for messages (a path, or the redacted URL).
func withEngine<T>(_ flags: ParsedFlags, _ body: (SyncEngine, String) throws -> T) throws -> T {
    let log = try logger(flags)
    let config = ServeConfiguration(server: PigeonholeServer.Configuration(adminToken: ""),
                                    dataDirectory: flags.string("data-dir") ?? "./data", durability: .full,
                                    database: try DatabaseChoice(flags))
    let name: String
    switch config.database {
    case .sqlite:
        try DataDirectory.create(config.dataDirectory)
        name = config.sqlitePath
    case .postgres(let options):
        name = DatabaseChoice.redacted(options.url)
    }
    let store = try openStore(config, cluster: false, log: log)
    defer { store.stop() }
    return try body(SyncEngine(store: store), name)
}

/// Runs one write and waits for its durable result.
func runWrite<T: Sendable>(_ engine: SyncEngine, _ body: @escaping @Sendable (WriteContext) throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<Result<T, SyncError>?>(nil)
    engine.write(body) { r in
        result.withLock { $0 = r }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}


let loadtestFlags: [Flag] = [
    Flag(name: "url", env: "PIGEONHOLE_URL", value: "URL[,URL...]",
         help: "server to load (default http://127.0.0.1:8080); repeat or comma-separate to spread over several nodes"),
    Flag(name: "admin-token", env: "PIGEONHOLE_ADMIN_TOKEN", value: "TOKEN", help: "the server's admin token"),
    Flag(name: "scenario", env: nil, value: "dm|group:N|hot:N|mixed", help: "what to send into (default dm)"),
    Flag(name: "users", env: nil, value: "N", help: "dm/mixed: users, all syncing (default 200)"),
    Flag(name: "devices-per-user", env: nil, value: "N", help: "syncing devices per syncing user (default 1)"),
    Flag(name: "receivers", env: nil, value: "K", help: "the first K users sync and are verified (default: all in dm/mixed, 50 in group/hot)"),
    Flag(name: "senders", env: nil, value: "N", help: "concurrent sends in flight, one connection each (default 64)"),
    Flag(name: "rate", env: nil, value: "MSG/S", help: "open loop: total sends per second (default: as fast as answered)"),
    Flag(name: "duration", env: nil, value: "TIME", help: "how long to send: 20, 20s, 2m (default 10s)"),
    Flag(name: "transport", env: nil, value: "longpoll|websocket", help: "how devices learn of news (default longpoll)"),
    Flag(name: "idle", env: nil, value: "N", help: "extra users whose one connection only waits (parked poll / socket)"),
    Flag(name: "read-every", env: nil, value: "N", help: "a device marks read after every Nth pull with messages (default 8, 0 = never)"),
    Flag(name: "client-threads", env: nil, value: "N", help: "client event loops for devices (default 2; senders get one more)"),
    Flag(name: "server-pid", env: nil, value: "PID", help: "report this local server process's RSS and CPU (repeat for several: summed)"),
    Flag(name: "json", env: nil, value: nil, help: "print one JSON object"),
    Flag(name: "help", env: nil, value: nil, help: "show this help"),
]

func loadtest(_ flags: ParsedFlags) throws {
    let targets = try LoadTarget.parse(flags.strings("url"))
    guard let token = flags.string("admin-token") else { throw UsageError("--admin-token is required") }
    let name = flags.string("scenario") ?? "dm"
    guard let scenario = LoadPlan.Scenario(name) else { throw UsageError("--scenario must be dm, group:N, hot:N or mixed") }
    let senders = try flags.int("senders", default: 64, range: 1...4096)
    let users = try flags.int("users", default: 200, range: 2...1_000_000)
    let perUser = try flags.int("devices-per-user", default: 1, range: 1...64)
    let receivers = flags.string("receivers") == nil ? nil : try flags.int("receivers", default: 0, range: 0...1_000_000)
    let durationText = flags.string("duration") ?? "10"
    let durationMs = try Int64(durationText).map { $0 * 1000 } ?? durationMillis(durationText, flag: "duration")
    guard durationMs >= 100, durationMs <= 3_600_000 else { throw UsageError("--duration must be between 100ms and 1h") }
    var rate: Double? = nil
    if let r = flags.string("rate") {
        guard let v = Double(r), v > 0, v <= 10_000_000 else { throw UsageError("--rate must be a positive number of sends per second") }
        rate = v
    }
    guard let transport = DeviceActor.Transport(rawValue: flags.string("transport") ?? "longpoll") else {
        throw UsageError("--transport must be longpoll or websocket")
    }
    var pids: [Int32] = []
    for p in flags.strings("server-pid") {
        guard let v = Int32(p), v > 0, ServerProcess(v).rssBytes() != nil else { throw UsageError("--server-pid: no such local process '\(p)'") }
        if !pids.contains(v) { pids.append(v) }
    }
    let plan = LoadPlan(scenario: scenario, users: users, senders: senders, receivers: receivers, nodes: targets.count)
    try LoadTest(targets: targets, adminToken: token, plan: plan, scenarioName: name, devicesPerUser: perUser,
                 duration: Double(durationMs) / 1000, rate: rate, transport: transport,
                 idle: try flags.int("idle", default: 0, range: 0...1_000_000),
                 readEvery: try flags.int("read-every", default: 8, range: 0...1_000_000),
                 clientThreads: try flags.int("client-threads", default: 2, range: 1...64),
                 serverPIDs: pids, json: flags.string("json") != nil).run()
}

/// `7d`, `12h`, `30m`, `45s`, `500ms` or `0` as milliseconds.
func durationMillis(_ text: String, flag: String) throws -> Int64 {
    if text == "0" { return 0 }
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        // "ms" must not be read as minutes followed by "s": try the longest suffix first.
        if suffix == "s" && text.hasSuffix("ms") { continue }
        if suffix == "m" && text.hasSuffix("ms") { continue }
        if let n = Int64(number), n >= 0, n <= Int64.max / scale { return n * scale }
    }
    throw UsageError("--\(flag) must be a duration like 7d, 12h, 30m, 45s, 500ms or 0, got '\(text)'")
}
