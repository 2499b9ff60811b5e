import SQLiteBackend
import HTTPServer
import JSON
import SQLiteStore
@testable import SyncAPI
import SyncEngine

/// The real Pigeonhole server (`PigeonholeServer`: writer, engine, read pool, API,
/// epoll loops) on 127.0.0.1 with an ephemeral port, for one test.
final class TestServer {
    static let adminToken = "e2e-admin-token-0123456789"

    let server: PigeonholeServer
    let directory: String
    /// The database file of the embedded store.
    let databasePath: String
    /// A keep-alive connection for provisioning through the admin API.
    let admin: HTTPTestClient

    var port: UInt16 { server.port }
    var engine: SyncEngine { server.engine }
    /// The embedded store's single writer (fault injection, batch statistics).
    var writer: Writer { (server.engine.store as! SQLiteSyncStore).writer }
    /// Long-polls currently parked (subscribed and waiting), for tests that must know
    /// a request is really parked before they act.
    var parkedPolls: Int { server.api.polls.count }

    /// `configure` runs last, so a test may change any setting (e.g. a short WebSocket
    /// ping interval) on top of the defaults above it.
    convenience init(directory: String, durability: Database.Durability,
                     configure: (inout PigeonholeServer.Configuration) -> Void = { _ in },
                     storage: (inout SQLiteSyncStore.Options) -> Void = { _ in }) throws {
        var options = SQLiteSyncStore.Options(path: directory + "/pigeonhole.sqlite", database: Database.Options(durability: durability))
        storage(&options)
        try self.init(directory: directory, databasePath: options.path, store: try SQLiteSyncStore(options), configure: configure)
    }

    /// The server over any store (a PostgreSQL node: `databasePath` is its URL).
    init(directory: String, databasePath: String, store: any SyncStore,
         configure: (inout PigeonholeServer.Configuration) -> Void = { _ in }) throws {
        var config = PigeonholeServer.Configuration(adminToken: Self.adminToken)
        config.http.host = "127.0.0.1"
        config.http.port = 0
        config.http.threads = 2
        // Abuse limits off by default: tests send bursts on purpose; RateLimitTests turns them on.
        config.api.sendRatePerSecond = 0
        config.api.roomRatePerSecond = 0
        config.api.memberRatePerSecond = 0
        config.api.roomMembershipRowsPerSecond = 0
        config.api.authFailureRatePerSecond = 0
        configure(&config)
        self.directory = directory
        self.databasePath = databasePath
        server = try PigeonholeServer(configuration: config, store: store, logger: .silent)
        server.start()
        admin = try HTTPTestClient(port: server.port)
    }

    private let stopped = Locked(false)

    /// Graceful stop (answers parked polls, drains the writer). Idempotent, so a test
    /// may stop the server itself before the fixture's own stop.
    func shutdown() {
        guard !stopped.withLock({ s in defer { s = true }; return s }) else { return }
        server.shutdown(grace: .milliseconds(200))
    }

    /// Runs `body` against a server on a fresh temporary data directory, then shuts it
    /// down and deletes the directory.
    static func with<T>(durability: Database.Durability = .normal, _ body: (TestServer) throws -> T) throws -> T {
        try TemporaryDirectory.with { dir in try with(directory: dir, durability: durability, body) }
    }

    /// Like `with(durability:_:)`, with `configure` applied to the server's configuration.
    static func with<T>(configure: (inout PigeonholeServer.Configuration) -> Void = { _ in },
                        storage: (inout SQLiteSyncStore.Options) -> Void = { _ in },
                        _ body: (TestServer) throws -> T) throws -> T {
        try TemporaryDirectory.with { dir in
            let s = try TestServer(directory: dir, durability: .normal, configure: configure, storage: storage)
            defer { s.shutdown() }
            return try body(s)
        }
    }

    /// Runs `body` against a server on `directory` (kept: a restart test reuses it).
    static func with<T>(directory: String, durability: Database.Durability, _ body: (TestServer) throws -> T) throws -> T {
        let s = try TestServer(directory: directory, durability: durability)
        defer { s.shutdown() }
        return try body(s)
    }

    /// A new connection to this server.
    func connect(timeout: Double = 5) throws -> HTTPTestClient { try HTTPTestClient(port: port, timeout: timeout) }

    // MARK: provisioning through the admin API

    func createUser(_ name: String) throws {
        let r = try admin.post("/v1/admin/users", json: ["name": .string(name)], token: Self.adminToken)
        guard r.status == 201 else { throw TestFailure("create user \(name): \(r.status) \(r.text)") }
    }

    /// A device of `user`, with its own keep-alive connection.
    func createDevice(_ user: String, _ name: String) throws -> TestDevice {
        let r = try admin.post("/v1/admin/users/\(user)/devices", json: ["name": .string(name)], token: Self.adminToken)
        guard r.status == 201, let id = r.json["id"]?.int64Value, let token = r.json["token"]?.stringValue else {
            throw TestFailure("create device \(user)/\(name): \(r.status) \(r.text)")
        }
        return TestDevice(user: user, name: name, id: id, token: token, client: try connect())
    }

    /// A new user with one device (named `device`).
    func createUser(_ name: String, device: String) throws -> TestDevice {
        try createUser(name)
        return try createDevice(name, device)
    }
}
