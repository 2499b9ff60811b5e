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
func serve(_ settings: ServeConfiguration) throws {
    let log = settings.logger
    var config = try settings.checkedForServing()
    // Validated, then bind, then touch the data directory: a bad flag or a taken port
    // leaves no admin token or database behind.
    let server = try openServer(&config, log: log)
    let stop = StopSignal()
    server.start()
    stop.wait()
    log.info("shutting down")
    server.shutdown(grace: .seconds(5))
}

/// Binds the port, then creates the data directory and the admin token and opens the
/// store (in that order: a taken port leaves nothing behind), and builds the server.
func openServer(_ config: inout ServeConfiguration, log: Logger) throws -> PigeonholeServer {
    let listener = try HTTPListener.bind(host: config.server.http.host, port: config.server.http.port)
    do {
        switch config.database {
        case .sqlite:
            try DataDirectory.create(config.dataDirectory)
            config.server.api.adminToken = try AdminToken.resolve(explicit: config.adminToken,
                                                                   dataDirectory: config.dataDirectory, log: log)
        case .postgres:
            // Stateless: no data directory; every node has the same, given admin token.
            config.server.api.adminToken = config.adminToken ?? ""
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
func withEngine<T>(_ config: ServeConfiguration, _ body: (SyncEngine, String) throws -> T) throws -> T {
    let log = config.logger
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
    Flag(name: "route", env: nil, value: "room|spread",
         help: "with several URLs, where sends go: the node of their room, as the example nginx config routes them (default), or round-robin by sender"),
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
    Flag(name: "changes", env: nil, value: "P", help: "fraction 0..1 of operations that edit, recall or react instead of sending; verifies convergence (default 0)"),
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
    var changes = 0.0
    if let c = flags.string("changes") {
        guard let v = Double(c), v >= 0, v <= 1 else { throw UsageError("--changes must be a fraction between 0 and 1") }
        changes = v
    }
    guard let route = LoadPlan.Route(rawValue: flags.string("route") ?? "room") else {
        throw UsageError("--route must be room or spread")
    }
    let plan = LoadPlan(scenario: scenario, users: users, senders: senders, receivers: receivers, nodes: targets.count,
                        route: route)
    try LoadTest(targets: targets, adminToken: token, plan: plan, scenarioName: name, devicesPerUser: perUser,
                 duration: Double(durationMs) / 1000, rate: rate, transport: transport,
                 idle: try flags.int("idle", default: 0, range: 0...1_000_000),
                 readEvery: try flags.int("read-every", default: 8, range: 0...1_000_000), changes: changes,
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
