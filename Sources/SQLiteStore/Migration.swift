/// One schema change: a file `migrations/NNNN_name.sql`, applied once, in version
/// order, and recorded in `schema_migrations`. Migrations are append-only: a
/// released one is never edited, a later one corrects it.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    /// A script of any number of statements. It runs inside the runner's
    /// transaction, so it must not contain BEGIN/COMMIT, and pragmas that are no-ops
    /// inside a transaction (`foreign_keys`, `journal_mode`) do not belong here.
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Parses `NNNN_name.sql`: at least four decimal digits, an underscore, then
    /// `[a-z0-9_]+`. Strict on purpose, so that a file sorts where its version says
    /// and a typo (`001_x.sql`, `0002-x.sql`, `0003_X.SQL`) fails the build's tests
    /// instead of being skipped or applied out of order.
    public init(fileName: String, sql: String) throws(MigrationError) {
        guard let parsed = Self.parse(fileName: fileName) else {
            throw .invalidFileName(fileName)
        }
        self.init(version: parsed.version, name: parsed.name, sql: sql)
    }

    /// The file name this migration would have, e.g. `0001_init.sql`.
    public var fileName: String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name + ".sql"
    }

    static func parse(fileName: String) -> (version: Int, name: String)? {
        let bytes = Array(fileName.utf8)
        let suffix = Array(".sql".utf8)
        guard bytes.count > suffix.count, bytes.suffix(suffix.count).elementsEqual(suffix) else { return nil }
        let stem = bytes.dropLast(suffix.count)
        let digits = stem.prefix { (0x30...0x39).contains($0) }
        // Up to 18 digits always fits an Int; more would be an absurd version anyway.
        guard (4...18).contains(digits.count) else { return nil }
        let rest = stem.dropFirst(digits.count)
        guard rest.first == UInt8(ascii: "_") else { return nil }
        let name = rest.dropFirst()
        let isNameByte = { (c: UInt8) in
            (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) || c == UInt8(ascii: "_")
        }
        guard !name.isEmpty, name.allSatisfy(isNameByte) else { return nil }
        guard let version = Int(String(decoding: digits, as: UTF8.self)), version > 0 else { return nil }
        return (version, String(decoding: name, as: UTF8.self))
    }
}

/// Why migrations could not be applied. Startup stops on any of these.
public enum MigrationError: Error, Sendable, Equatable {
    /// A migration file is not named `NNNN_name.sql`.
    case invalidFileName(String)
    /// The code's list is not strictly increasing (duplicate or out-of-order version).
    case invalidOrder(version: Int, after: Int)
    /// The database was migrated by a newer build: running older code on it could
    /// corrupt data the old code does not understand. Deploy the newer build.
    case databaseNewerThanCode(dbVersion: Int, codeVersion: Int)
    /// The database records a different name for a version than the code has: the
    /// migration files were renumbered or edited after release.
    case nameMismatch(version: Int, database: String, code: String)
    /// The database records a version the code does not know, below the code's latest.
    case unknownAppliedMigration(version: Int, name: String)
    /// A known migration older than the database's latest one was never applied.
    case missingMigration(version: Int, databaseVersion: Int)
    /// The migration's SQL failed; it and later ones were not applied, earlier ones were.
    case failed(version: Int, name: String, error: SQLiteError)
    /// Reading or writing `schema_migrations` itself failed.
    case database(SQLiteError)
}
