import SyncEngine
import SQLiteStore

/// The database schema: top-level `migrations/*.sql`, embedded at build time by
/// EmbedMigrationsPlugin so the binary carries it wherever it runs.
public enum Schema {
    public static let migrations: [Migration] = EmbeddedMigrations.files.map { file in
        do {
            return try Migration(fileName: file.name, sql: file.sql)
        } catch {
            preconditionFailure("migrations/\(file.name) has an invalid name: \(error)")
        }
    }
}
