import SyncEngine
import SQLiteStore

// The SQLite backend of the store seam: a reader wraps a read connection inside a
// deferred read transaction, a writer wraps the single writer's connection inside the
// group commit's transaction. Each area's statements and row mapping live in
// SQLite+<Area>.swift as extensions of these classes.

public class SQLiteReader: StoreReader {
    public let sqlite: Database
    public init(_ db: Database) { sqlite = db }
}

public final class SQLiteWriter: SQLiteReader, StoreWriter {
    /// One process: its Notifier hears every commit; there is no other node to tell.
    public func announce(_ news: StoreNews) throws {}
}
