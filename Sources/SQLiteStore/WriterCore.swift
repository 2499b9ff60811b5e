import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The writer thread's side of `Writer`: the queue it sleeps on and the loop that
/// turns the queue into group-committed batches. Separate from `Writer` so that the
/// thread keeps this object alive, not the `Writer`: dropping the last `Writer`
/// reference can then stop the thread from `deinit`.
final class WriterCore: Sendable {
    enum Phase {
        case starting
        case running
        case failed(any Error)

        var isStarting: Bool {
            if case .starting = self { return true }
            return false
        }
    }

    struct QueueState {
        var jobs: [Job] = []
        var accepting = true
        var phase = Phase.starting
    }

    let queue = ConditionLock(QueueState())
    let stats = WriterStats()
    private let path: String
    private let options: Writer.Options
    let batchHooks = Mutex<Writer.BatchHooks?>(nil)
    private let setup: @Sendable (Database) throws -> Void
    /// The background checkpointer, while the thread runs (`Writer.scrub`).
    let checkpointer = Mutex<Checkpointer?>(nil)

    init(path: String, options: Writer.Options, setup: @escaping @Sendable (Database) throws -> Void) {
        self.path = path
        self.options = options
        self.setup = setup
    }

    /// Starts the joinable writer thread (SWIFT-NOTES G10: the C callback captures
    /// nothing; `self` travels as the retained context pointer).
    func startThread() -> pthread_t {
        var tid = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&tid, nil, { context in
            let core = Unmanaged<WriterCore>.fromOpaque(context!).takeRetainedValue()
            core.main()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return tid
    }

    private func main() {
        let db: Database
        var checkpointer: Checkpointer?
        do {
            db = try Database(path: path, mode: .readWrite, options: options.database)
            try setup(db)
            if let pages = options.backgroundCheckpointPages, !path.isEmpty, path != ":memory:" {
                checkpointer = try Checkpointer(path: path, options: options.database, thresholdPages: pages)
                checkpointer?.attach(to: db)
                self.checkpointer.withLock { [checkpointer] in $0 = checkpointer }
            }
        } catch {
            queue.withLock { $0.phase = .failed(error) }
            queue.broadcast()
            return
        }
        queue.withLock { $0.phase = .running }
        queue.broadcast()

        while let batch = nextBatch() {
            stats.recordBatch(size: batch.count)
            var pending = batch[...]
            while !pending.isEmpty {
                pending = runTransaction(pending, on: db)
            }
        }
        // Clean shutdown: fold the WAL back into the database file and truncate it,
        // so the next start (or a file copy for backup) does not depend on the -wal.
        // A failure here loses nothing: the WAL is replayed on the next open.
        if let checkpointer {
            self.checkpointer.withLock { $0 = nil }
            checkpointer.stop()
            checkpointer.detach(from: db)
        }
        _ = try? db.checkpoint(truncate: true)
        db.close()
    }

    /// Sleeps until there is work, then takes the whole queue (up to the cap). Nil
    /// once stopping and drained: everything accepted before stop() gets run.
    private func nextBatch() -> [Job]? {
        queue.withLock(waitingUntil: { !$0.jobs.isEmpty || !$0.accepting }) { state in
            if state.jobs.isEmpty { return nil }
            if state.jobs.count <= options.maxBatchSize {
                defer { state.jobs = [] }
                return state.jobs
            }
            let batch = Array(state.jobs.prefix(options.maxBatchSize))
            state.jobs.removeFirst(options.maxBatchSize)
            return batch
        }
    }
}
