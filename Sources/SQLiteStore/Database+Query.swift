import CSQLite

/// Statements with positional parameters (?1...?N bound from `values`), run through
/// the statement cache. Values are always bound, never interpolated, so user data
/// cannot change the SQL.
extension Database {
    /// Runs one statement that returns no rows (INSERT/UPDATE/DELETE/DDL) and returns
    /// the number of rows it changed, including rows changed by triggers. Rows a
    /// statement does return are skipped. Counted as a difference of
    /// `sqlite3_total_changes64` because `sqlite3_changes64` keeps the previous DML's
    /// count across DDL and SELECT, which would report stale numbers here.
    @discardableResult
    public func run(_ sql: String, _ values: [SQLValue] = []) throws(SQLiteError) -> Int {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(values)
        let before = sqlite3_total_changes64(connection)
        while try statement.step() {}
        return Int(sqlite3_total_changes64(connection) - before)
    }

    /// Calls `body` for each row. The `Row` is only valid inside `body`.
    public func query(_ sql: String, _ values: [SQLValue] = [], _ body: (Row) throws -> Void) throws {
        try queryWhile(sql, values) { row in
            try body(row)
            return true
        }
    }

    /// Calls `body` for each row until it returns false (the rows after it are not
    /// stepped to, so their columns are never read). The `Row` is only valid inside `body`.
    public func queryWhile(_ sql: String, _ values: [SQLValue] = [], _ body: (Row) throws -> Bool) throws {
        let statement = try statement(sql)
        // Marked busy so a nested query of the same SQL inside `body` does not reset
        // this statement mid-iteration (see `statement(_:)`).
        statement.inUse = true
        defer {
            statement.inUse = false
            statement.reset()
        }
        try statement.bind(values)
        let row = Row(handle: statement.handle)
        while try statement.step() {
            guard try body(row) else { return }
        }
    }

    /// Maps every row to a value.
    public func queryAll<T>(_ sql: String, _ values: [SQLValue] = [], _ map: (Row) throws -> T) throws -> [T] {
        var result: [T] = []
        try query(sql, values) { row in result.append(try map(row)) }
        return result
    }

    /// Maps the first row, or returns nil if there is none. Stops after one row, so
    /// `LIMIT 1` is not needed for correctness (it still helps the query planner).
    public func queryOne<T>(_ sql: String, _ values: [SQLValue] = [], _ map: (Row) throws -> T) throws -> T? {
        var result: T?
        try queryWhile(sql, values) { row in
            result = try map(row)
            return false
        }
        return result
    }
}
