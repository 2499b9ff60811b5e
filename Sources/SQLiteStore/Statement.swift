import CSQLite

/// A prepared statement (`sqlite3_stmt`), owned by one `Database` and used on its thread.
///
/// Statements are cached by SQL text in the `Database`, so each use must leave the
/// statement as it found it: every use ends with `sqlite3_reset` and
/// `sqlite3_clear_bindings`, whether the body returned or threw. A reset statement
/// also releases its read snapshot, which a WAL reader must do to let checkpoints
/// progress (https://www.sqlite.org/wal.html#checkpoint_starvation).
final class Statement {
    let handle: OpaquePointer
    let sql: String
    /// Set while a `query` is iterating this statement. A nested use of the same SQL
    /// (a query inside a query's row closure) then gets a fresh, uncached statement
    /// instead of resetting the outer one under its feet.
    var inUse = false
    private unowned let db: Database

    init(db: Database, sql: String) throws(SQLiteError) {
        // Prepared inside `withCString`: `tail` points into that C string, so it is only
        // valid in this closure (a Swift String passed straight to C is a temporary that
        // is gone when the call returns; reading `tail` after it read freed memory and
        // intermittently failed a good statement as "more than one statement").
        let prepared: Result<OpaquePointer, SQLiteError> = sql.withCString { cSQL in
            var stmt: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(db.connection, cSQL, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, &tail)
            guard rc == SQLITE_OK else {
                sqlite3_finalize(stmt)
                return .failure(SQLiteError(code: rc, db: db.connection, sql: sql))
            }
            // An empty string or a lone comment prepares to NULL: there is nothing to run.
            guard let stmt else { return .failure(SQLiteError.misuse("empty statement", sql: sql)) }
            // `run`/`query` take one statement; a script belongs in `execute(_:)`, which
            // runs all of it. Silently ignoring the rest would lose writes.
            // Preparing the tail tells "only whitespace/comments left" from a second
            // statement without guessing at SQL lexing; this runs once per cached SQL.
            if let tail, tail.pointee != 0 {
                var next: OpaquePointer?
                let tailRC = sqlite3_prepare_v2(db.connection, tail, -1, &next, nil)
                if tailRC != SQLITE_OK || next != nil {
                    sqlite3_finalize(next)
                    sqlite3_finalize(stmt)
                    return .failure(SQLiteError.misuse("more than one statement; use execute(_:) for scripts", sql: sql))
                }
            }
            return .success(stmt)
        }
        let stmt = try prepared.get()
        self.handle = stmt
        self.sql = sql
        self.db = db
    }

    deinit { sqlite3_finalize(handle) }

    /// Binds `values` to ?1...?N. Callers pair it with `reset()` in a `defer`.
    func bind(_ values: [SQLValue]) throws(SQLiteError) {
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard values.count == expected else {
            throw SQLiteError(extendedCode: SQLITE_RANGE,
                              message: "statement has \(expected) parameters, \(values.count) values given", sql: sql)
        }
        for (offset, value) in values.enumerated() {
            let rc = bind(value, at: Int32(offset + 1))
            guard rc == SQLITE_OK else { throw SQLiteError(code: rc, db: db.connection, sql: sql) }
        }
    }

    /// Back to the just-prepared state. The return code repeats the last step's error,
    /// which was already thrown, so it is ignored here.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// One `sqlite3_step`: true for a row, false when done.
    func step() throws(SQLiteError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc: throw SQLiteError(code: rc, db: db.connection, sql: sql)
        }
    }

    /// Text and blobs are bound with an explicit byte length (so embedded NULs and any
    /// UTF-8 survive) and SQLITE_TRANSIENT (SQLite copies them: the Swift buffers are
    /// only valid inside the closure). A nil base pointer would bind NULL, so empty
    /// values take the explicit empty forms.
    private func bind(_ value: SQLValue, at index: Int32) -> Int32 {
        switch value {
        case .null:
            return sqlite3_bind_null(handle, index)
        case .integer(let v):
            return sqlite3_bind_int64(handle, index, v)
        case .real(let v):
            return sqlite3_bind_double(handle, index, v)
        case .text(var s):
            return s.withUTF8 { utf8 in
                guard let base = utf8.baseAddress, utf8.count > 0 else {
                    return sqlite3_bind_text(handle, index, "", 0, csqlite_transient())
                }
                return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                    sqlite3_bind_text64(handle, index, $0, UInt64(utf8.count), csqlite_transient(), UInt8(SQLITE_UTF8))
                }
            }
        case .blob(let bytes):
            return bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress, raw.count > 0 else {
                    return sqlite3_bind_zeroblob(handle, index, 0)
                }
                return sqlite3_bind_blob64(handle, index, base, UInt64(raw.count), csqlite_transient())
            }
        }
    }
}
