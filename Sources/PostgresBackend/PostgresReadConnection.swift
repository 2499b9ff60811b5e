import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// Where this node's news from elsewhere goes, once the engine joined the cluster.
final class DeliverTo: Sendable {
    private let target = Mutex<(@Sendable (RemoteNews) -> Void)?>(nil)
    func set(_ f: @escaping @Sendable (RemoteNews) -> Void) { target.withLock { $0 = f } }
    func send(_ news: RemoteNews) { target.withLock { $0 }?(news) }
}

/// A snapshot on a borrowed pool connection.
final class PostgresReadConnection: StoreReadConnection {
    let pool: PGPool
    init(pool: PGPool) { self.pool = pool }

    func snapshot<T>(_ body: (any StoreReader) throws -> T) throws(SyncError) -> T {
        do {
            return try pool.with(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { conn in
                do {
                    let value = try body(PGReader(conn, locking: false))
                    try conn.execute("COMMIT")
                    return value
                } catch {
                    if conn.isOpen { try? conn.execute("ROLLBACK") }
                    throw error
                }
            }
        } catch {
            throw PostgresSyncStore.classify(error)
        }
    }

    func ping() throws(SyncError) {
        do {
            try pool.with { conn in _ = try conn.query("SELECT 1") }
        } catch {
            throw .storageUnavailable
        }
    }

    func close() {}
}
