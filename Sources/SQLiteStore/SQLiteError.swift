import CSQLite

/// An error reported by SQLite, or by this wrapper in SQLite's terms.
///
/// Callers decide what to do from `extendedCode` (enabled on every connection with
/// `sqlite3_extended_result_codes`), never from `message`: message texts change between
/// SQLite versions and may quote user data. `message` and `sql` are for logs only and
/// must never reach a client. Same approach as GRDB's `DatabaseError`.
public struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The primary result code (`extendedCode & 0xff`), e.g. `SQLITE_CONSTRAINT`.
    public var code: Int32 { extendedCode & 0xff }
    /// The extended result code, e.g. 2067 (`SQLITE_CONSTRAINT_UNIQUE`).
    public let extendedCode: Int32
    /// SQLite's English text for the error. Logs only.
    public let message: String
    /// The statement that failed, when known. Logs only.
    public let sql: String?

    public init(extendedCode: Int32, message: String, sql: String? = nil) {
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    /// The error currently recorded on a connection (`sqlite3_errmsg` is only valid
    /// until the next call on that connection, so it is copied here).
    init(code: Int32, db: OpaquePointer?, sql: String? = nil) {
        let message = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            ?? String(cString: sqlite3_errstr(code))
        self.init(extendedCode: code, message: message, sql: sql)
    }

    public var description: String {
        var text = "SQLite error \(extendedCode) (\(code)): \(message)"
        if let sql { text += " [\(sql)]" }
        return text
    }

    // MARK: Classification (result codes: https://www.sqlite.org/rescode.html)

    /// The database was locked by another connection past the busy timeout.
    public var isBusy: Bool { code == SQLITE_BUSY }
    public var isLocked: Bool { code == SQLITE_LOCKED }
    /// A UNIQUE or PRIMARY KEY constraint failed: the row already exists.
    public var isConstraintUnique: Bool {
        extendedCode == Self.constraintUnique || extendedCode == Self.constraintPrimaryKey
    }
    public var isConstraintForeignKey: Bool { extendedCode == Self.constraintForeignKey }
    /// Any constraint (UNIQUE, CHECK, NOT NULL, FOREIGN KEY, ...) failed.
    public var isConstraint: Bool { code == SQLITE_CONSTRAINT }
    /// The disk (or `max_page_count`) is full.
    public var isFull: Bool { code == SQLITE_FULL }
    public var isIOError: Bool { code == SQLITE_IOERR }
    /// A write on a read-only connection (`SQLITE_OPEN_READONLY` or `query_only`).
    public var isReadOnly: Bool { code == SQLITE_READONLY }
    public var isCorrupt: Bool { code == SQLITE_CORRUPT || code == SQLITE_NOTADB }

    // MARK: Extended codes
    // These are macros built with `|` and `<<` in sqlite3.h, which the Clang importer
    // does not import; spelled out here as GRDB does (ResultCode.swift).

    public static let constraintCheck: Int32 = SQLITE_CONSTRAINT | (1 << 8)        // 275
    public static let constraintForeignKey: Int32 = SQLITE_CONSTRAINT | (3 << 8)   // 787
    public static let constraintNotNull: Int32 = SQLITE_CONSTRAINT | (5 << 8)      // 1299
    public static let constraintPrimaryKey: Int32 = SQLITE_CONSTRAINT | (6 << 8)   // 1555
    public static let constraintUnique: Int32 = SQLITE_CONSTRAINT | (8 << 8)       // 2067
    public static let busyRecovery: Int32 = SQLITE_BUSY | (1 << 8)                 // 261
    public static let busySnapshot: Int32 = SQLITE_BUSY | (2 << 8)                 // 517
    public static let busyTimeout: Int32 = SQLITE_BUSY | (3 << 8)                  // 773
    public static let readOnlyDatabaseMoved: Int32 = SQLITE_READONLY | (4 << 8)    // 1032
    public static let abortRollback: Int32 = SQLITE_ABORT | (2 << 8)               // 516

    /// Errors this wrapper raises itself, in SQLite's vocabulary so callers handle
    /// one error type.
    static func misuse(_ message: String, sql: String? = nil) -> SQLiteError {
        SQLiteError(extendedCode: SQLITE_MISUSE, message: message, sql: sql)
    }
}
