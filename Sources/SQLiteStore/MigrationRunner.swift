/// Applies `Migration`s in version order and records each in `schema_migrations`,
/// in the same transaction as its SQL (GRDB's DatabaseMigrator does the same): a
/// migration is either fully applied and recorded, or neither.
public enum MigrationRunner {
    static let createTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     INTEGER PRIMARY KEY,
            name        TEXT    NOT NULL,
            applied_at  INTEGER NOT NULL   -- ms since the Unix epoch (UTC)
        )
        """

    /// Applies the pending migrations and returns them, in order (empty if the
    /// database is up to date). Each runs in its own `BEGIN IMMEDIATE` transaction:
    /// if one fails, the earlier ones stay applied and it and the later ones do not.
    /// Refuses a database that records a version this code does not know.
    /// Must be called outside a transaction (at startup, on the write connection).
    @discardableResult
    public static func apply(_ migrations: [Migration], to db: Database) throws(MigrationError) -> [Migration] {
        try validate(migrations)
        let applied: [Int: String]
        do {
            try db.execute(createTable)
            applied = try appliedMigrations(db)
        } catch {
            throw .database(error)
        }
        try check(applied: applied, against: migrations)

        var done: [Migration] = []
        for migration in migrations where applied[migration.version] == nil {
            if try apply(migration, to: db) { done.append(migration) }
        }
        return done
    }

    /// The highest applied version, or 0 for a database never migrated.
    public static func currentVersion(_ db: Database) throws(SQLiteError) -> Int {
        try sqliteOnly {
            let hasTable = try db.queryOne(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'") { _ in true } ?? false
            guard hasTable else { return 0 }
            let max: Int?? = try db.queryOne("SELECT max(version) FROM schema_migrations") { $0.optionalInt(0) }
            return (max ?? nil) ?? 0
        }
    }

    /// `query` closures may throw anything; the ones here throw nothing of their own,
    /// so whatever escapes is a SQLiteError.
    private static func sqliteOnly<T>(_ body: () throws -> T) throws(SQLiteError) -> T {
        do {
            return try body()
        } catch let error as SQLiteError {
            throw error
        } catch {
            throw .misuse("\(error)")
        }
    }

    /// Versions must be strictly increasing: a duplicate or a misordered list is a
    /// build mistake, caught before anything touches the database.
    static func validate(_ migrations: [Migration]) throws(MigrationError) {
        for (previous, next) in zip(migrations, migrations.dropFirst()) where next.version <= previous.version {
            throw .invalidOrder(version: next.version, after: previous.version)
        }
    }

    static func appliedMigrations(_ db: Database) throws(SQLiteError) -> [Int: String] {
        var applied: [Int: String] = [:]
        try sqliteOnly {
            try db.query("SELECT version, name FROM schema_migrations") { row in
                applied[row.int(0)] = row.text(1)
            }
        }
        return applied
    }

    /// The database and the code must agree on history before anything is applied.
    static func check(applied: [Int: String], against migrations: [Migration]) throws(MigrationError) {
        let codeVersion = migrations.last?.version ?? 0
        let dbVersion = applied.keys.max() ?? 0
        if dbVersion > codeVersion {
            throw .databaseNewerThanCode(dbVersion: dbVersion, codeVersion: codeVersion)
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0.name) })
        for (version, name) in applied.sorted(by: { $0.key < $1.key }) {
            guard let codeName = known[version] else { throw .unknownAppliedMigration(version: version, name: name) }
            guard codeName == name else { throw .nameMismatch(version: version, database: name, code: codeName) }
        }
        if let hole = migrations.first(where: { applied[$0.version] == nil && $0.version < dbVersion }) {
            throw .missingMigration(version: hole.version, databaseVersion: dbVersion)
        }
    }

    /// Applies one migration; false if another process recorded it first (checked
    /// under the write lock that BEGIN IMMEDIATE takes).
    private static func apply(_ migration: Migration, to db: Database) throws(MigrationError) -> Bool {
        do {
            return try db.transaction(.immediate) { db in
                let recorded = try db.queryOne("SELECT 1 FROM schema_migrations WHERE version = ?1",
                                               [.init(migration.version)]) { _ in true } ?? false
                if recorded { return false }
                try db.execute(migration.sql)
                try db.run("""
                    INSERT INTO schema_migrations (version, name, applied_at)
                    VALUES (?1, ?2, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
                    """, [.init(migration.version), .text(migration.name)])
                return true
            }
        } catch let error as SQLiteError {
            throw .failed(version: migration.version, name: migration.name, error: error)
        } catch {
            // Only SQLite errors are thrown above; keep the typed contract anyway.
            throw .failed(version: migration.version, name: migration.name,
                          error: .misuse("\(error)"))
        }
    }
}
