import CSQLite

/// One SQLite connection.
///
/// Confinement: a `Database` is used by one thread at a time: the writer thread for
/// the read-write connection, one event-loop thread for each read-only one
/// (ARCHITECTURE.md "Concurrency"). It is opened with SQLITE_OPEN_NOMUTEX (SQLite's
/// "multi-thread" mode, no per-call mutex), so SQLite itself does not serialize
/// access; nor does this class. It is `@unchecked Sendable` only so that a
/// connection opened on one thread can be handed over to the thread that will own
/// it; after the hand-over, the previous thread must not touch it again.
public final class Database: @unchecked Sendable {
    public let path: String
    public let mode: Mode
    private(set) var handle: OpaquePointer?
    private var statements: [SQLKey: Statement] = [:]
    private let statementCacheLimit: Int

    /// Opens (for `.readWrite`, creating if `options.create`) and configures a connection.
    public init(path: String, mode: Mode = .readWrite, options: Options = Options()) throws(SQLiteError) {
        self.path = path
        self.mode = mode
        self.statementCacheLimit = max(1, options.statementCacheLimit)
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        switch mode {
        case .readWrite: flags |= SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0)
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            // Even a failed open may allocate a handle that carries the message.
            let error = SQLiteError(code: rc, db: db)
            sqlite3_close_v2(db)
            throw error
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        do {
            try configure(options)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// The live handle. Using a closed connection is a programming error.
    var connection: OpaquePointer {
        guard let handle else { preconditionFailure("Database \(path) used after close()") }
        return handle
    }

    /// Pragmas for ARCHITECTURE.md "Concurrency" (durability included), https://www.sqlite.org/pragma.html.
    private func configure(_ options: Options) throws(SQLiteError) {
        sqlite3_busy_timeout(connection, options.busyTimeoutMilliseconds)
        // Off by default in SQLite for backwards compatibility; our schema relies on it.
        try execute("PRAGMA foreign_keys = ON")
        switch mode {
        case .readWrite:
            // The journal mode is persistent in the file, but setting it is cheap and
            // makes a fresh file WAL before the first table exists. The pragma answers
            // with the mode actually in effect, which is "memory" for :memory:.
            let journal = try queryText("PRAGMA journal_mode = WAL")
            guard journal == "wal" || (journal == "memory" && (path.isEmpty || path == ":memory:")) else {
                throw SQLiteError.misuse("journal_mode is \(journal ?? "nil"), expected wal", sql: "PRAGMA journal_mode = WAL")
            }
            try execute("PRAGMA synchronous = \(options.durability.rawValue)")
            // Statement journals of the per-command savepoints stay in memory instead of
            // temp files; a larger page cache keeps hot inbox/member pages resident.
            try execute("PRAGMA temp_store = MEMORY")
            // A recall erases a message's text: freed bytes are overwritten with zeroes,
            // so nothing of it stays in free pages or cells (docs/message-changes.md).
            try execute("PRAGMA secure_delete = ON")
            try execute("PRAGMA cache_size = -65536")
        case .readOnly:
            // Belt and braces on top of SQLITE_OPEN_READONLY: refuses even writes
            // SQLite would otherwise allow on a read-only handle (e.g. to temp tables).
            try execute("PRAGMA query_only = ON")
        }
    }

    /// Closes the connection, finalizing cached statements first. Idempotent.
    /// `sqlite3_close_v2` defers the real close if a statement is still alive
    /// somewhere, instead of failing with SQLITE_BUSY and leaking the handle.
    public func close() {
        guard let handle else { return }
        statements.removeAll()
        sqlite3_close_v2(handle)
        self.handle = nil
    }

    public var isClosed: Bool { handle == nil }

    /// Runs a script of any number of statements (migrations, pragmas) with
    /// `sqlite3_exec`. No parameters: never interpolate values into `sql`.
    public func execute(_ sql: String) throws(SQLiteError) {
        let rc = sqlite3_exec(connection, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, db: connection, sql: sql) }
    }

    /// Rowid of the last successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(connection) }
    /// Rows changed by every INSERT/UPDATE/DELETE on this connection since it opened
    /// (statements that failed and were undone do not count).
    var totalChanges: Int64 { sqlite3_total_changes64(connection) }
    /// Rows changed by the last INSERT/UPDATE/DELETE on this connection.
    public var changes: Int { Int(sqlite3_changes64(connection)) }
    /// False in autocommit mode; true inside BEGIN...COMMIT or a SAVEPOINT.
    public var isInTransaction: Bool { sqlite3_get_autocommit(connection) == 0 }
    /// Prepared statements currently cached (one per distinct SQL text).
    public var cachedStatementCount: Int { statements.count }

    /// Copies WAL frames back into the database file
    /// (https://www.sqlite.org/c3ref/wal_checkpoint_v2.html). `truncate` also waits
    /// for readers (busy timeout) and truncates the WAL to zero bytes, as a clean
    /// shutdown should; otherwise a PASSIVE checkpoint does what it can without waiting.
    @discardableResult
    public func checkpoint(truncate: Bool = true) throws(SQLiteError) -> CheckpointResult {
        var log: Int32 = 0
        var done: Int32 = 0
        let mode = truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE
        let rc = sqlite3_wal_checkpoint_v2(connection, nil, mode, &log, &done)
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, db: connection) }
        return CheckpointResult(walFrames: Int(log), checkpointedFrames: Int(done))
    }

    /// The cached statement for `sql`, prepared on first use. If the cached one is
    /// busy in an enclosing `query`, a private one is prepared for this use only.
    func statement(_ sql: String) throws(SQLiteError) -> Statement {
        let key = SQLKey(sql)
        if let cached = statements[key] {
            return cached.inUse ? try Statement(db: self, sql: sql) : cached
        }
        let statement = try Statement(db: self, sql: sql)
        if statements.count >= statementCacheLimit {
            statements = statements.filter { $0.value.inUse }
        }
        statements[key] = statement
        return statement
    }

    /// First column of the first row as text, for pragmas that answer with a row.
    func queryText(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try statement(sql)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return Row(handle: statement.handle).optionalText(0)
    }
}

/// A statement-cache key: SQL text hashed by its length and a few of its bytes rather
/// than all of them (every query looks its statement up; texts run to hundreds of
/// bytes). Equality still compares the whole text, so collisions only cost a compare.
struct SQLKey: Hashable {
    let sql: String

    init(_ sql: String) { self.sql = sql }

    func hash(into hasher: inout Hasher) {
        var s = sql
        s.withUTF8 { b in
            hasher.combine(b.count)
            guard b.count > 0 else { return }
            // Statements differ mostly in their middle and tail (table, WHERE): sample across.
            var sample: UInt64 = 0
            for k in 0..<8 { sample = sample << 8 | UInt64(b[(b.count - 1) * k / 7]) }
            hasher.combine(sample)
            var tail: UInt64 = 0
            for k in 0..<min(8, b.count) { tail = tail << 8 | UInt64(b[b.count - 1 - k]) }
            hasher.combine(tail)
        }
    }

    static func == (a: SQLKey, b: SQLKey) -> Bool { a.sql == b.sql }
}
