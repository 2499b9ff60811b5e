/// The schema: top-level `migrations/postgres/NNNN_name.sql`, embedded at build time
/// (EmbedMigrationsPlugin), applied in version order at start, each in its own
/// transaction with its row in `schema_migrations`. Nodes starting at once take turns
/// on a session advisory lock, so each migration is applied exactly once.
public enum PostgresMigrations {
    /// The advisory lock's key ("pigeonhole migrations").
    static let lockKey: Int64 = 0x7069_6765_6f6e_6d67

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// (version, file name, SQL) of every embedded migration, in version order.
    public static let all: [(version: Int, name: String, sql: String)] = EmbeddedMigrations.files.map { file in
        guard let version = Int(file.name.prefix { $0.isNumber }), version > 0 else {
            preconditionFailure("migrations/postgres/\(file.name) has an invalid name")
        }
        return (version, file.name, file.sql)
    }.sorted { $0.version < $1.version }

    /// Applies what is pending and returns the file names applied. Refuses a database
    /// whose schema is newer than this build.
    public static func apply(to conn: PGConnection) throws -> [String] {
        try conn.query("SELECT pg_advisory_lock($1)", [.int(lockKey)])
        defer { _ = try? conn.query("SELECT pg_advisory_unlock($1)", [.int(lockKey)]) }
        try conn.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     INTEGER PRIMARY KEY,
                name        TEXT    NOT NULL,
                applied_at  BIGINT  NOT NULL
            )
            """)
        let applied = Set(try conn.queryAll("SELECT version FROM schema_migrations") { $0.int(0) })
        let known = all.last?.version ?? 0
        if let newest = applied.max(), newest > known {
            throw Failure(description: "the database's schema is version \(newest), newer than this build's \(known): "
                          + "run a newer pigeonhole")
        }
        var done: [String] = []
        for m in all where !applied.contains(m.version) {
            try conn.execute("BEGIN")
            do {
                try conn.execute(m.sql)
                try conn.query("""
                    INSERT INTO schema_migrations (version, name, applied_at)
                    VALUES ($1, $2, (extract(epoch from clock_timestamp()) * 1000)::bigint)
                    """, [.int(Int64(m.version)), .text(m.name)])
                try conn.execute("COMMIT")
            } catch {
                try? conn.execute("ROLLBACK")
                throw Failure(description: "migration \(m.name) failed: \(error)")
            }
            done.append(m.name)
        }
        return done
    }

    /// The highest applied version (0 for an empty database).
    public static func currentVersion(_ conn: PGConnection) throws -> Int {
        let exists = try conn.queryOne("SELECT to_regclass('schema_migrations') IS NOT NULL") { $0.bool(0) } ?? false
        guard exists else { return 0 }
        return try conn.queryOne("SELECT coalesce(max(version), 0) FROM schema_migrations") { $0.int(0) } ?? 0
    }
}
