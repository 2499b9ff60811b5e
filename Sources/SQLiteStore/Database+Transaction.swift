/// Transactions and savepoints (https://www.sqlite.org/lang_transaction.html,
/// https://www.sqlite.org/lang_savepoint.html). A unit of work is one closure run as
/// one transaction on one connection, as in GRDB.
extension Database {
    /// Runs `body` between BEGIN and COMMIT; any throw (from `body` or COMMIT) rolls
    /// back and rethrows. Calling this inside a transaction is a programming error
    /// (SQLite would refuse the BEGIN; silently joining the outer transaction would
    /// hide that the inner "commit" is not one): use `savepoint` to nest. Commands on
    /// the `Writer` already run inside its batch transaction.
    @discardableResult
    public func transaction<T>(_ kind: TransactionKind, _ body: (Database) throws -> T) throws -> T {
        precondition(!isInTransaction, "Database.transaction inside a transaction; use savepoint(_:) to nest")
        try begin(kind)
        let value: T
        do {
            value = try body(self)
        } catch {
            rollback()
            throw error
        }
        do {
            try commit()
        } catch {
            rollback()
            throw error
        }
        return value
    }

    /// Runs `body` inside `SAVEPOINT name ... RELEASE name`. On a throw, the work of
    /// `body` is undone (`ROLLBACK TO name; RELEASE name`) and the enclosing
    /// transaction, if any, continues. Outside a transaction this acts as one.
    @discardableResult
    public func savepoint<T>(_ name: String, _ body: (Database) throws -> T) throws -> T {
        precondition(Self.isPlainIdentifier(name), "savepoint name must match [A-Za-z_][A-Za-z0-9_]*: \(name)")
        try run("SAVEPOINT \(name)")
        do {
            let value = try body(self)
            try run("RELEASE \(name)")
            return value
        } catch {
            // After SQLITE_FULL/IOERR/NOMEM SQLite may already have rolled the whole
            // transaction back, and the savepoint no longer exists. Otherwise undo our
            // part; if even that fails the caller (e.g. the Writer) sees the
            // connection's state and fails the transaction.
            if isInTransaction {
                _ = try? rollback(to: name)
            }
            throw error
        }
    }

    // MARK: Building blocks, for the Writer's batch (commands in savepoints)

    func begin(_ kind: TransactionKind) throws(SQLiteError) {
        try run("BEGIN \(kind.rawValue)")
    }

    func commit() throws(SQLiteError) {
        try run("COMMIT")
    }

    /// Ends the transaction if SQLite has not ended it already. A failing ROLLBACK
    /// leaves nothing better to do: SQLite rolls back on close or the next BEGIN's
    /// hot-journal recovery, and the caller is already reporting the first error.
    func rollback() {
        if isInTransaction {
            _ = try? run("ROLLBACK")
        }
    }

    /// `ROLLBACK TO name; RELEASE name`: undoes and removes one savepoint.
    func rollback(to name: String) throws(SQLiteError) {
        try run("ROLLBACK TO \(name)")
        try run("RELEASE \(name)")
    }

    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isLetter(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || (0x30...0x39).contains($0) }
    }

    private static func isLetter(_ c: UInt8) -> Bool {
        (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
    }
}
