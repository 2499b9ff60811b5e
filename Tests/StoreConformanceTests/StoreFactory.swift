import Dispatch
import Foundation
import PostgresBackend
import PostgresTestSupport
import SQLiteBackend
import Synchronization
import SyncEngine
import Testing

// The seam the conformance suite is written against: a backend contributes one
// `StoreFactory`, and every test of this target runs against every factory in
// `allStoreFactories`. Nothing outside this file names a backend type.

/// Opens stores of one backend for tests.
protocol StoreFactory: Sendable, CustomStringConvertible {
    /// A fresh, empty database of its own (nothing opened yet).
    func freshDatabase() throws -> any TestDatabase
    /// Whether units of two stores on one database run at the same time, each holding
    /// its rows' locks (PostgreSQL), rather than one write transaction after the other
    /// (SQLite: one writer per database file at a time).
    var unitsOfTwoStoresOverlap: Bool { get }
}

/// One test's database. Every store it opens is stopped, and its storage removed, by
/// `close`.
protocol TestDatabase: AnyObject, Sendable {
    /// Opens a store on this database: the first call opens the fresh empty store (with
    /// the schema applied); every further call a second, independent store on the same
    /// database (another writer, as another node would be).
    func open() throws -> any SyncStore
    /// Like `open`, but a store that runs no statements of its own in the background
    /// (on PostgreSQL: no cluster listener, no presence), so what a test counts is what it
    /// did. Stopped by `close` too.
    func openAlone() throws -> any SyncStore
    /// Counts the statements the database runs, where the backend can (PostgreSQL:
    /// pg_stat_statements); nil elsewhere.
    func statementCounter() throws -> StatementCounter?
    /// Stops every store opened on it and removes the database.
    func close()
}

/// The backends every machine has; the parameterized tests run against each. PostgreSQL
/// needs a server: `PostgresConformanceTests.swift` runs the same tests against it, as
/// suites that report skipped (with the reason) where none is configured.
let allStoreFactories: [any StoreFactory] = [SQLiteStoreFactory()]

// MARK: SQLite

/// SQLite: a database file in a fresh temporary directory; a second store is a second
/// `SQLiteSyncStore` (its own single writer) on the same file.
struct SQLiteStoreFactory: StoreFactory {
    var description: String { "SQLite" }
    var unitsOfTwoStoresOverlap: Bool { false }

    func freshDatabase() throws -> any TestDatabase {
        var template = Array("/tmp/pigeonhole-conformance-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw TestSetupError("mkdtemp failed: errno \(errno)") }
        return SQLiteTestDatabase(directory: String(cString: p))
    }
}

final class SQLiteTestDatabase: TestDatabase {
    let directory: String
    private let stores = Mutex<[SQLiteSyncStore]>([])

    init(directory: String) { self.directory = directory }

    func open() throws -> any SyncStore {
        let store = try SQLiteSyncStore(.init(path: directory + "/pigeonhole.sqlite"))
        stores.withLock { $0.append(store) }
        return store
    }

    func openAlone() throws -> any SyncStore { try open() }

    /// SQLite runs in-process: there are no round trips to count.
    func statementCounter() throws -> StatementCounter? { nil }

    func close() {
        for s in stores.withLock({ $0 }) { s.stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

// MARK: PostgreSQL

/// PostgreSQL: a fresh database per test on the server named by
/// `PIGEONHOLE_TEST_DATABASE_URL` (a URL of a database, e.g. `postgres`, on a server
/// where the tests may create and drop databases); a second store is another node.
struct PostgresStoreFactory: StoreFactory {
    var description: String { "PostgreSQL" }
    var unitsOfTwoStoresOverlap: Bool { true }

    func freshDatabase() throws -> any TestDatabase {
        let database = try TestPostgres.createDatabase()
        return PostgresTestDatabase(database: database)
    }
}

final class PostgresTestDatabase: TestDatabase {
    let database: TestPostgres.Database
    private let stores = Mutex<[PostgresSyncStore]>([])

    init(database: TestPostgres.Database) { self.database = database }

    func open() throws -> any SyncStore {
        let store = try PostgresSyncStore(.init(url: database.url, poolSize: 4))
        stores.withLock { $0.append(store) }
        return store
    }

    func openAlone() throws -> any SyncStore {
        var options = PostgresSyncStore.Options(url: database.url, poolSize: 2)
        options.cluster = false
        let store = try PostgresSyncStore(options)
        stores.withLock { $0.append(store) }
        return store
    }

    func statementCounter() throws -> StatementCounter? { try StatementCounter(url: database.url) }

    func close() {
        for s in stores.withLock({ $0 }) { s.stop() }
        database.drop()
    }
}

/// Counts the top-level statements run in one database, from `pg_stat_statements`
/// (the server preloads it with `track = top`, as `.ci/pg_cluster` sets it up; BEGIN and
/// COMMIT count). Its own counting queries run on a connection of its own and are
/// taken out of the count.
final class StatementCounter {
    private let connection: PGConnection

    init(url: String) throws {
        connection = try PGConnection(url: url)
        try connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    }

    deinit { connection.close() }

    private func total() throws -> Int64 {
        try connection.queryOne("""
            SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            """) { $0.int64(0) } ?? 0
    }

    /// `body`'s value and the number of statements run in the database while it ran
    /// (nothing else may use the database meanwhile).
    func count<T>(_ body: () throws -> T) throws -> (T, Int) {
        let before = try total()
        let value = try body()
        let after = try total()
        // `before` itself was counted once it had run.
        return (value, Int(after - before - 1))
    }
}

// MARK: helpers (interface only)

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A value shared between a test and its helper threads.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    @discardableResult
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

/// A wall clock the test moves by hand (milliseconds since the epoch).
final class FakeClock: Sendable {
    private let millis: Atomic<Int64>
    init(_ start: Int64 = 1_700_000_000_000) { millis = Atomic(start) }
    var now: Int64 { millis.load(ordering: .relaxed) }
    func advance(by ms: Int64) { millis.wrappingAdd(ms, ordering: .relaxed) }
    var function: @Sendable () -> Int64 { { [self] in now } }
}

/// Runs `body` on `count` threads of their own (not the test's cooperative pool) and
/// waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.stackSize = 1 << 20
        t.start()
    }
    group.wait()
}

/// Submits a unit of work to `store` and waits for its completion.
func submitAndWait<T: Sendable>(_ store: any SyncStore,
                                _ unit: @escaping @Sendable (any StoreWriter) throws -> T) -> Result<T, SyncError> {
    let result = Locked<Result<T, SyncError>?>(nil)
    let done = DispatchSemaphore(value: 0)
    store.submit(unit, affinity: nil) { r in
        result.withLock { $0 = r }
        done.signal()
    }
    done.wait()
    return result.value!
}

/// A user with one device, as the domain tests use them.
struct TestUser: Sendable {
    let principal: Principal
    let token: String
    var id: UserID { principal.user }
    var name: String { principal.userName }
}

/// One engine over one store of a test database, with a read connection of its own.
final class Harness: @unchecked Sendable {
    let database: any TestDatabase
    let store: any SyncStore
    let engine: SyncEngine
    /// Confined to the test's thread (helper threads open their own).
    let reader: any StoreReadConnection

    init(database: any TestDatabase, store: any SyncStore, config: EngineConfiguration = EngineConfiguration(),
         clock: (@Sendable () -> Int64)? = nil) throws {
        self.database = database
        self.store = store
        engine = SyncEngine(store: store, config: config, clock: clock ?? SyncEngine.nowMillis)
        reader = try store.openReader()
    }

    /// A fresh database of `factory`, one store on it and an engine over it; closed after `body`.
    static func with<T>(_ factory: any StoreFactory, config: EngineConfiguration = EngineConfiguration(),
                        clock: (@Sendable () -> Int64)? = nil, _ body: (Harness) throws -> T) throws -> T {
        let database = try factory.freshDatabase()
        defer { database.close() }
        let h = try Harness(database: database, store: try database.open(), config: config, clock: clock)
        defer { h.reader.close() }
        return try body(h)
    }

    /// `with`, on a store that runs nothing in the background (`openAlone`), with the
    /// database's statement counter where the backend has one.
    static func alone<T>(_ factory: any StoreFactory, config: EngineConfiguration = EngineConfiguration(),
                         _ body: (Harness, StatementCounter?) throws -> T) throws -> T {
        let database = try factory.freshDatabase()
        defer { database.close() }
        let h = try Harness(database: database, store: try database.openAlone(), config: config)
        defer { h.reader.close() }
        return try body(h, try database.statementCounter())
    }

    /// Another store (writer) on the same database, with its own engine.
    func second(config: EngineConfiguration? = nil, clock: (@Sendable () -> Int64)? = nil) throws -> Harness {
        try Harness(database: database, store: try database.open(), config: config ?? engine.config, clock: clock)
    }

    /// Runs `body` as one unit of work and waits for its completion.
    func write<T: Sendable>(_ body: @escaping @Sendable (WriteContext) throws -> T) -> Result<T, SyncError> {
        let result = Locked<Result<T, SyncError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        engine.write(body) { r in
            result.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return result.value!
    }

    func read<T>(_ body: (ReadContext) throws -> T) throws -> T {
        try engine.read(reader, body)
    }

    /// Creates a user with one device ("phone") and authenticates its token.
    func user(_ name: String, device: String = "phone") throws -> TestUser {
        _ = try write { try Accounts.createUser($0, name: name) }.get()
        return try self.device(name, device)
    }

    /// A further device of an existing user.
    func device(_ userName: String, _ deviceName: String) throws -> TestUser {
        let (_, token) = try write { try Accounts.createDevice($0, userName: userName, deviceName: deviceName) }.get()
        let principal = try #require(try read { try Accounts.authenticate($0.store, token: token) })
        return TestUser(principal: principal, token: token)
    }

    func group(_ me: TestUser, _ name: String, _ members: [TestUser]) throws -> RoomID {
        let names = members.map(\.name)
        return try write { try Rooms.createGroup($0, me: me.principal, name: name, memberNames: names) }.get().id
    }

    func direct(_ me: TestUser, _ other: TestUser) throws -> RoomID {
        let name = other.name
        return try write { try Rooms.direct($0, me: me.principal, otherName: name) }.get().0.id
    }

    func send(_ me: TestUser, _ room: RoomID, _ clientMsgID: String, _ body: String = "\"hi\"") -> Result<SendResult, SyncError> {
        let max = engine.config.maxMessageBodyBytes
        return write { try Messages.send($0, me: me.principal, room: room, clientMsgID: clientMsgID, body: body, maxBodyBytes: max) }
    }

    /// Pulls from `cursor` page by page (validated and pulled in one snapshot each, as
    /// `GET /v1/sync` does) until `hasMore` is false.
    func pullAll(_ user: UserID, from cursor: Cursor, limit: Int = 7) throws -> (events: [Event], cursor: Cursor, pages: Int) {
        var events: [Event] = []
        var text = cursor.encoded
        var pages = 0
        while true {
            let page = try read { ctx in
                let from = try Stream.validate(ctx.store, cursor: text, user: user)
                return try Stream.pull(ctx, user: user, after: from, limit: limit, perRoomLimit: nil)
            }
            pages += 1
            #expect(page.events.count <= limit)
            events += page.events
            text = page.cursor.encoded
            if !page.hasMore { return (events, page.cursor, pages) }
            guard pages < 10_000 else { throw TestSetupError("pull does not end") }
        }
    }
}

/// Checks that `events` carry every message of `expected` (room -> its seqs) exactly
/// once and each room's messages in seq order. Returns the message events' (room, seq).
@discardableResult
func expectExactlyOnceInOrder(_ events: [Event], expected: [RoomID: [Int64]],
                              sourceLocation: SourceLocation = #_sourceLocation) -> [(RoomID, Int64)] {
    let messages = events.compactMap { e in e.message.map { ($0.room, $0.seq) } }
    var perRoom: [RoomID: [Int64]] = [:]
    for (room, seq) in messages { perRoom[room, default: []].append(seq) }
    for (room, seqs) in perRoom {
        #expect(seqs == seqs.sorted(), "room \(room): out of order", sourceLocation: sourceLocation)
        #expect(Set(seqs).count == seqs.count, "room \(room): a message delivered twice", sourceLocation: sourceLocation)
    }
    #expect(Set(perRoom.keys) == Set(expected.filter { !$0.value.isEmpty }.keys), sourceLocation: sourceLocation)
    for (room, seqs) in expected {
        #expect((perRoom[room] ?? []) == seqs, "room \(room)", sourceLocation: sourceLocation)
    }
    return messages
}
