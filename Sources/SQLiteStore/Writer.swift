#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Why the Writer did not run a command.
public enum WriterError: Error, Sendable, Equatable {
    /// Submitted after `stop()` began: the command was not run.
    case stopped
}

/// The single writer (ARCHITECTURE.md "Concurrency"): one thread that owns the only
/// read-write connection and group-commits the commands handed to it.
///
/// Commands queue up while the previous batch commits. The thread then takes the
/// whole queue (up to `maxBatchSize`) as one batch, in one `BEGIN IMMEDIATE ...
/// COMMIT`; a failing command is undone alone (see `WriterCore.runTransaction`: a
/// command that fails after writing gets the batch replayed with a SAVEPOINT per
/// command).
/// One fsync covers the whole batch: under load, throughput grows with batch size
/// instead of being capped at one commit per disk flush.
///
/// Completions run on the writer thread, after COMMIT returned (a success is
/// durable when its completion runs), in submission order. They must be quick and
/// must not block: hop to your own thread (`loop.execute { }`) and return.
///
/// Plain thread + condition variable, not an actor: group commit needs "sleep until
/// there is work, then take all of it", and the connection must stay on one thread.
public final class Writer: Sendable {
    public struct Options: Sendable {
        public var database: Database.Options
        /// Most commands in one transaction. Bounds how long a batch holds the write
        /// lock and how much a failed COMMIT takes down with it.
        public var maxBatchSize: Int
        /// WAL size in pages at which a background thread checkpoints it (see
        /// `Checkpointer`); nil leaves checkpoints to SQLite, inside the COMMIT that
        /// crosses `wal_autocheckpoint` (1000 pages).
        public var backgroundCheckpointPages: Int?

        public init(database: Database.Options = Database.Options(), maxBatchSize: Int = 1024,
                    backgroundCheckpointPages: Int? = 1000) {
            self.database = database
            self.maxBatchSize = max(1, maxBatchSize)
            self.backgroundCheckpointPages = backgroundCheckpointPages
        }
    }

    public let path: String
    public var stats: WriterStats { core.stats }

    /// Asks the background checkpointer to truncate the WAL soon (erased text leaves the
    /// files: `Checkpointer.requestScrub`); a no-op without one (an in-memory database).
    public func scrub() { core.checkpointer.withLock { $0 }?.requestScrub() }

    /// Scrubs completed.
    public var scrubs: Int { core.checkpointer.withLock { $0 }?.scrubs ?? 0 }
    private let core: WriterCore
    /// The writer thread until it is joined; then nil, so a second stop() is a no-op.
    private let thread: Mutex<pthread_t?>

    /// Starts the writer thread, which opens the read-write connection and runs
    /// `setup` on it (migrations, typically) before taking commands. Throws what the
    /// open or `setup` threw; the thread has then already exited.
    public init(path: String, options: Options = Options(),
                setup: @escaping @Sendable (Database) throws -> Void = { _ in }) throws {
        let core = WriterCore(path: path, options: options, setup: setup)
        let tid = core.startThread()
        // Hand the startup result back to the caller's thread.
        let failure = core.queue.withLock(waitingUntil: { !$0.phase.isStarting }) { state -> (any Error)? in
            if case .failed(let error) = state.phase { return error }
            return nil
        }
        if let failure {
            pthread_join(tid, nil)
            throw failure
        }
        self.path = path
        self.core = core
        self.thread = Mutex(tid)
    }

    deinit {
        shutdown()
    }

    /// Work that belongs to a whole batch rather than to one command: `began` runs on
    /// the writer thread after every BEGIN (a replay's too, so state gathered by the
    /// discarded run can be dropped), `beforeCommit` just before COMMIT, inside the
    /// transaction. If `beforeCommit` throws, the batch fails as a failed COMMIT does.
    public struct BatchHooks: Sendable {
        public var began: @Sendable () -> Void
        public var beforeCommit: @Sendable (Database) throws -> Void
        public init(began: @escaping @Sendable () -> Void, beforeCommit: @escaping @Sendable (Database) throws -> Void) {
            self.began = began
            self.beforeCommit = beforeCommit
        }
    }

    /// Installs the batch hooks (one set; the next transaction picks them up).
    public func setBatchHooks(_ hooks: BatchHooks?) { core.batchHooks.withLock { $0 = hooks } }

    /// Queues `command` for the next batch. `completion` is called exactly once: on
    /// the writer thread after the batch committed (or failed), or at once on the
    /// calling thread with `WriterError.stopped` if the writer is stopping.
    ///
    /// The command runs inside the batch's transaction: it must not BEGIN/COMMIT
    /// (`db.transaction` traps; `db.savepoint` nests fine) and must not keep `db`.
    /// Its return value reaches the completion only if the batch commits.
    /// A command may be run more than once: when a neighbour in its batch fails after
    /// writing, the transaction is rolled back and the batch replayed. Only the run
    /// that commits is reported, so a command must keep its effects in `db` (or make
    /// outside effects harmless to repeat) and must not wait for other commands.
    public func submit<T: Sendable>(_ command: @escaping @Sendable (Database) throws -> T,
                                    completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        let job = WriterCore.Job(command, completion: completion)
        let accepted = core.queue.withLock { state in
            guard state.accepting else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted {
            core.queue.broadcast()
        } else {
            completion(.failure(WriterError.stopped))
        }
    }

    /// `submit` for async callers (tests, CLI). Resumes after the commit.
    public func perform<T: Sendable>(_ command: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(command) { continuation.resume(with: $0) }
        }
    }

    /// Commands queued and not yet taken into a batch.
    public var queuedCount: Int { core.queue.withLock { $0.jobs.count } }

    /// Stops accepting commands, runs and commits everything already queued,
    /// checkpoints the WAL (TRUNCATE), closes the connection and joins the thread.
    /// Returns when all of that is done. Idempotent. Must not be called from a
    /// completion or a command (that is the writer thread, which cannot join itself).
    public func stop() {
        shutdown(allowOnWriterThread: false)
    }

    private func shutdown(allowOnWriterThread allowed: Bool = true) {
        core.queue.withLock { $0.accepting = false }
        core.queue.broadcast()
        thread.withLock { thread in
            guard let tid = thread else { return }
            thread = nil
            if pthread_equal(tid, pthread_self()) != 0 {
                // Only reachable from deinit, when a completion dropped the last
                // reference: the thread finishes the queue and exits on its own.
                precondition(allowed, "Writer.stop() called on the writer thread (from a command or completion)")
                pthread_detach(tid)
            } else {
                pthread_join(tid, nil)
            }
        }
    }
}
