import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// A fixed number of connections, opened on first use and replaced when lost.
final class PGPool: @unchecked Sendable {
    private let url: String
    private let connectTimeoutSeconds: Int
    private let slots: DispatchSemaphore
    private let idle = Mutex<[PGConnection]>([])
    private let closed = Atomic<Bool>(false)

    init(url: String, size: Int, connectTimeoutSeconds: Int) {
        self.url = url
        self.connectTimeoutSeconds = connectTimeoutSeconds
        slots = DispatchSemaphore(value: max(1, size))
    }

    /// Runs `body` with a connection of the pool (waiting up to the connect timeout for
    /// one), after `begin` if given. A pooled connection that died unnoticed (the server
    /// restarted) fails at `begin`, where nothing has run yet: then once more on a new one.
    func with<T>(begin: String? = nil, _ body: (PGConnection) throws -> T) throws -> T {
        guard !closed.load(ordering: .acquiring) else { throw SyncError.shuttingDown }
        guard slots.wait(timeout: .now() + .seconds(connectTimeoutSeconds)) == .success else {
            throw SyncError.storageUnavailable
        }
        defer { slots.signal() }
        let pooled = idle.withLock { $0.popLast() }
        var conn = try pooled ?? PGConnection(url: url, connectTimeoutSeconds: connectTimeoutSeconds)
        if let begin {
            var stale = false
            do {
                try conn.execute(begin)
            } catch {
                conn.close()
                guard error.connectionLost, pooled != nil else { throw error }
                stale = true
            }
            if stale {
                conn = try PGConnection(url: url, connectTimeoutSeconds: connectTimeoutSeconds)
                try conn.execute(begin)
            }
        }
        defer {
            if conn.isOpen && !conn.inTransaction && !closed.load(ordering: .acquiring) {
                idle.withLock { $0.append(conn) }
            } else {
                conn.close()
            }
        }
        return try body(conn)
    }

    func close() {
        closed.store(true, ordering: .releasing)
        for c in idle.withLock({ s -> [PGConnection] in defer { s = [] }; return s }) { c.close() }
    }
}
