import Glibc
import SyncEngine
import SQLiteStore

/// The embedded SQLite backend: one writer thread with group commit (`Writer`), WAL
/// read connections, migrations applied at open. A single writer makes every unit of
/// work serial, so its sequences are trivially assigned under the write lock.
public final class SQLiteSyncStore: SyncStore {
    public struct Options: Sendable {
        public var path: String
        public var database: Database.Options
        /// Threads that run reads (`read`), each with its own read-only WAL connection:
        /// reads never wait for the writer, and no event loop waits on a read. Default:
        /// one per core, at least 2.
        public var readThreads: Int
        public init(path: String, database: Database.Options = Database.Options(),
                    readThreads: Int = max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) {
            self.path = path
            self.database = database
            self.readThreads = readThreads
        }
    }

    public let options: Options
    /// The single writer (tests reach it for fault injection).
    public let writer: Writer
    private let readers: ReadThreads

    /// Opens (creating if missing) the database and applies the embedded migrations
    /// before taking units; `applied` is told each migration it applied.
    public init(_ options: Options, applied: @escaping @Sendable (Migration) -> Void = { _ in }) throws {
        self.options = options
        writer = try Writer(path: options.path, options: Writer.Options(database: options.database)) { db in
            for m in try MigrationRunner.apply(Schema.migrations, to: db) { applied(m) }
        }
        let path = options.path, database = options.database
        readers = ReadThreads(count: options.readThreads) { () throws(SyncError) in
            try Self.openReadConnection(path: path, options: database)
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T,
                                  completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        readers.snapshot(body, completion: completion)
    }

    public func readAhead<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T,
                                       completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        readers.snapshot(body, ahead: true, completion: completion)
    }

    public func ping(completion: @escaping @Sendable (Result<Void, SyncError>) -> Void) { readers.ping(completion: completion) }

    public func scrubErasedText() { writer.scrub() }
    public var scrubs: Int { writer.scrubs }

    /// One writer: `affinity` changes nothing.
    public func submit<T: Sendable>(_ unit: @escaping @Sendable (any StoreWriter) throws -> T, affinity: Int64?,
                                    completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        writer.submit({ db in try unit(SQLiteWriter(db)) }) { result in
            completion(result.mapError(Self.classify))
        }
    }

    public func setBatchHooks(_ hooks: StoreBatchHooks?) {
        writer.setBatchHooks(hooks.map { h in
            Writer.BatchHooks(began: h.began, beforeCommit: { try h.beforeCommit(SQLiteWriter($0)) })
        })
    }

    public func openReader() throws(SyncError) -> any StoreReadConnection {
        try Self.openReadConnection(path: options.path, options: options.database)
    }

    static func openReadConnection(path: String, options: Database.Options) throws(SyncError) -> any StoreReadConnection {
        do {
            return SQLiteReadConnection(try Database(path: path, mode: .readOnly, options: options))
        } catch {
            throw .storageUnavailable
        }
    }

    /// One process has the database to itself: its buckets in memory are the whole limit.
    public var isShared: Bool { false }

    public var stats: StoreStats {
        let w = writer.stats
        var s = StoreStats()
        s.transactionsCommitted = w.transactionsCommitted
        s.transactionsFailed = w.transactionsFailed
        s.unitsCompleted = w.commandsCompleted
        s.batchSizeHistogram = w.batchSizeHistogram
        (s.commitLatencyCounts, s.commitLatencySum) = w.commitLatency
        s.commitBuckets = WriterStats.commitBuckets
        return s
    }

    /// Reads still queued run first; then the writer commits what is queued and closes.
    public func stop() {
        readers.stop()
        writer.stop()
    }

    /// One process: nothing comes from elsewhere, and this node's presence is all there is.
    public func joinCluster(local: any Presence, deliver: @escaping @Sendable (RemoteNews) -> Void) -> any Presence { local }

    /// A unit's or a read's error as the domain sees it: the file busy, full, unreadable or
    /// gone is `storageUnavailable` (503, retry); anything else from SQLite (a constraint, a
    /// statement that does not prepare: a bug) is `unexpected` (500, logged).
    static func classify(_ error: any Error) -> SyncError {
        if let e = error as? SyncError { return e }
        if error is WriterError { return .shuttingDown }
        guard let s = error as? SQLiteError else { return .unexpected(String(reflecting: error)) }
        // BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN,
        // PROTOCOL, NOTADB (https://www.sqlite.org/rescode.html).
        return [5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26].contains(s.code) ? .storageUnavailable : .unexpected(s.description)
    }
}

/// A read-only WAL connection; each snapshot is a deferred read transaction.
final class SQLiteReadConnection: StoreReadConnection {
    let db: Database
    init(_ db: Database) { self.db = db }

    func snapshot<T>(_ body: (any StoreReader) throws -> T) throws(SyncError) -> T {
        do {
            return try db.transaction(.deferred) { db in try body(SQLiteReader(db)) }
        } catch {
            throw SQLiteSyncStore.classify(error)
        }
    }

    func ping() throws(SyncError) {
        do {
            _ = try db.queryOne("SELECT count(*) FROM schema_migrations") { $0.int(0) }
        } catch {
            throw .storageUnavailable
        }
    }

    func close() { db.close() }
}
