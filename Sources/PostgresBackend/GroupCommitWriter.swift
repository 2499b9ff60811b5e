import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// One node's writer: a thread that owns one connection and group-commits the units
/// submitted to it (see `PostgresSyncStore` for the whole picture).
///
/// A batch: BEGIN; for each unit, its statements (no savepoints: see `PGWriter` and
/// `runBatch`; a send is one function call); a unit that throws before changing rows
/// fails alone; one that throws after makes the batch replay with a savepoint per unit,
/// where it is rolled back to its savepoint and fails alone, or, if it lost a lock wait
/// or a deadlock, is kept for the next batch; the batch hook (the member activity of
/// every room of the batch in one statement); one statement for all `pg_notify`
/// payloads (~7,900 bytes each); COMMIT. About 4 statements per batch plus one per send.
/// Completions run after COMMIT returned. A lost connection fails the batch's units
/// with `storageUnavailable` (a send whose COMMIT got no answer may or may not have
/// committed: the client's resend with the same client_msg_id finds out) and the next
/// batch reconnects.
final class GroupCommitWriter: @unchecked Sendable {
    /// A unit as queued: runs on the writer thread, then completes once.
    final class Command: @unchecked Sendable {   // queued under the lock, then the writer thread's alone
        let run: (PGWriter) throws -> Void
        let complete: (SyncError?) -> Void
        var attempts = 0
        var failure: SyncError?
        init(run: @escaping (PGWriter) throws -> Void, complete: @escaping (SyncError?) -> Void) {
            self.run = run
            self.complete = complete
        }
    }

    let options: PostgresSyncStore.Options
    let nodeID: String
    /// Told when a COMMIT's outcome is unknown (the connection died during it): units
    /// that may have committed fail with 503, so this node wakes its waiters itself
    /// (the listener skips the node's own news).
    let ambiguousCommit: @Sendable () -> Void
    var conn: PGConnection?
    let queue = Mutex<(commands: [Command], stopping: Bool)>(([], false))
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    let hooks = Mutex<StoreBatchHooks?>(nil)
    let statsBox = Mutex(StoreStats())
    /// What the writer learned of units' first statements (the writer thread's alone).
    var pipelineMemory = PipelineMemory()
    /// Batch sizes per power-of-two bucket (1, 2, 3-4, ...), the last one everything larger.
    static let batchBuckets = 16
    static let commitBuckets: [Double] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1]
    /// Attempts of a unit that keeps losing lock waits before it fails (503).
    static let maxAttempts = 20

    init(options: PostgresSyncStore.Options, nodeID: String, ambiguousCommit: @escaping @Sendable () -> Void) throws {
        self.options = options
        self.nodeID = nodeID
        self.ambiguousCommit = ambiguousCommit
        conn = try Self.connect(options)
        var s = StoreStats()
        s.commitBuckets = Self.commitBuckets
        s.commitLatencyCounts = Array(repeating: 0, count: Self.commitBuckets.count + 1)
        s.batchSizeHistogram = Array(repeating: 0, count: Self.batchBuckets)
        statsBox.withLock { $0 = s }
        StoreThread.start { [self] in
            StoreThread.setName("ph-pg-writer")
            run()
        }
    }

    static func connect(_ options: PostgresSyncStore.Options) throws -> PGConnection {
        let c = try PGConnection(url: options.url, connectTimeoutSeconds: options.connectTimeoutSeconds,
                                 applicationName: "pigeonhole-writer")
        // Durable before the answer, whatever the server's default; waits for a row lock
        // end after lock_timeout (the unit runs again in the next batch).
        try c.execute("SET synchronous_commit = on; SET lock_timeout = '\(options.lockTimeoutMillis)ms'")
        return c
    }

    func submit<T: Sendable>(_ unit: @escaping @Sendable (any StoreWriter) throws -> T,
                             completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        let box = ResultBox<T>()
        let command = Command(run: { w in box.value = try unit(w) }) { error in
            if let error { completion(.failure(error)) } else { completion(.success(box.value!)) }
        }
        let accepted = queue.withLock { q -> Bool in
            guard !q.stopping else { return false }
            q.commands.append(command)
            return true
        }
        if accepted { wake.signal() } else { completion(.failure(.shuttingDown)) }
    }

    func setBatchHooks(_ h: StoreBatchHooks?) { hooks.withLock { $0 = h } }

    /// Units queued and not yet taken into a batch.
    var depth: Int { queue.withLock { $0.commands.count } }

    var stats: StoreStats { statsBox.withLock { $0 } }

    /// Commits what is queued, then ends the thread.
    func stop() {
        let first = queue.withLock { q -> Bool in
            defer { q.stopping = true }
            return !q.stopping
        }
        guard first else { return }
        wake.signal()
        finished.wait()
    }

    // MARK: - The writer thread

    private func run() {
        var carried: [Command] = []
        while true {
            if carried.isEmpty { wake.wait() }
            let (taken, stopping) = queue.withLock { q -> ([Command], Bool) in
                let n = min(q.commands.count, max(1, options.maxBatch - carried.count))
                let taken = Array(q.commands.prefix(n))
                q.commands.removeFirst(n)
                return (taken, q.stopping)
            }
            let batch = carried + taken
            carried = []
            if batch.isEmpty {
                if stopping && queue.withLock({ $0.commands.isEmpty }) { break }
                continue
            }
            // Every submit signalled once and a batch consumed one signal: commands left
            // queued still have theirs, so the wait above never sleeps on queued work.
            carried = runBatch(batch)
        }
        conn?.close()
        finished.signal()
    }
}

final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

enum MonotonicNanos {
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
