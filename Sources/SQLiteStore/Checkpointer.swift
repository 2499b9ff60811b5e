#if canImport(Glibc)
import Glibc
#endif
import CSQLite

/// Checkpoints the write connection's WAL on a thread and connection of its own, so
/// that the writer's COMMIT never copies WAL pages into the database file
/// (https://www.sqlite.org/wal.html#application_initiated_checkpoints).
///
/// SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL past
/// `wal_autocheckpoint` pages: that commit copies ~1,000 pages and fsyncs the
/// database file while the whole batch (and the next one queueing behind it) waits.
/// Here the writer connection gets a WAL hook instead (replacing the automatic
/// checkpoint): after each commit it only compares the WAL size with the threshold
/// and, if over, wakes this thread, which runs a PASSIVE checkpoint (it takes no
/// lock the writer or the readers need). Durability is unchanged: a commit is
/// durable once its WAL frames are synced; checkpointing only moves them.
///
/// If the WAL still grows far past the threshold (this thread starved of CPU, or
/// not keeping up), the writer checkpoints itself after a commit, as SQLite would.
final class Checkpointer: Sendable {
    private struct State {
        var requested = false
        var stopping = false
        /// A recall erased text: truncate the WAL (`scrub`).
        var scrub = false
        var scrubs = 0
    }

    /// WAL size (pages) at which a background checkpoint is requested.
    let thresholdPages: Int32
    /// WAL size (pages) at which the writer checkpoints in its own commit.
    let writerFallbackPages: Int32
    private let state = ConditionLock(State())
    private let connection: Database
    private let busyTimeoutMilliseconds: Int32
    /// Scrubs are at least this far apart: recalls in a burst fold into one.
    static let scrubInterval: Double = 1
    private let thread = ConditionLock<pthread_t?>(nil)

    /// Opens the checkpointing connection on `path` (which must exist: the writer
    /// opened it first) and starts the thread.
    init(path: String, options: Database.Options, thresholdPages: Int) throws(SQLiteError) {
        self.thresholdPages = Int32(clamping: max(1, thresholdPages))
        self.writerFallbackPages = Int32(clamping: min(max(1, thresholdPages), Int(Int32.max) / 8) * 8)
        busyTimeoutMilliseconds = options.busyTimeoutMilliseconds
        var connectionOptions = options
        connectionOptions.create = false
        // A checkpoint writes the database file, so the connection must be read-write;
        // it never starts a write transaction.
        connection = try Database(path: path, mode: .readWrite, options: connectionOptions)
        var tid = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&tid, nil, { context in
            let checkpointer = Unmanaged<Checkpointer>.fromOpaque(context!).takeRetainedValue()
            checkpointer.main()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread.withLock { $0 = tid }
    }

    /// Installs the WAL hook on the writer's connection. `self` must outlive `db`'s
    /// last commit (WriterCore keeps both until its thread ends).
    func attach(to db: Database) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(db.connection, { context, handle, schema, pages in
            let checkpointer = Unmanaged<Checkpointer>.fromOpaque(context!).takeUnretainedValue()
            if pages >= checkpointer.writerFallbackPages {
                // Far behind: do it here, as SQLite's own automatic checkpoint would.
                sqlite3_wal_checkpoint_v2(handle, schema, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            } else if pages >= checkpointer.thresholdPages {
                checkpointer.request()
            }
            return SQLITE_OK
        }, context)
    }

    /// Restores SQLite's automatic checkpointing on `db` (before the final checkpoint
    /// at shutdown, after `stop()`).
    func detach(from db: Database) {
        sqlite3_wal_autocheckpoint(db.connection, thresholdPages)
    }

    private func request() {
        let wasRequested = state.withLock { s in
            defer { s.requested = true }
            return s.requested
        }
        if !wasRequested { state.broadcast() }
    }

    /// Erased text must leave the files: with `secure_delete` the database's freed bytes
    /// are zeroes, but the WAL still holds the frames written before (the message as
    /// sent, its edits). A TRUNCATE checkpoint copies the WAL back and truncates it to
    /// zero bytes (https://www.sqlite.org/c3ref/wal_checkpoint_v2.html). It waits for
    /// readers on older snapshots; this thread retries until it succeeds.
    func requestScrub() {
        state.withLock { $0.scrub = true; $0.requested = true }
        state.broadcast()
    }

    /// Scrubs completed (a test waits for one after its recall).
    var scrubs: Int { state.withLock { $0.scrubs } }

    /// Stops and joins the thread and closes its connection. Idempotent.
    func stop() {
        state.withLock { $0.stopping = true }
        state.broadcast()
        let tid = thread.withLock { t -> pthread_t? in
            defer { t = nil }
            return t
        }
        if let tid { pthread_join(tid, nil) }
    }

    private func main() {
        var lastScrub: UInt64?
        while true {
            let (stopping, scrub) = state.withLock(waitingUntil: { $0.requested || $0.stopping }) { s -> (Bool, Bool) in
                s.requested = false
                defer { s.scrub = false }
                return (s.stopping, s.scrub)
            }
            if stopping { break }
            if scrub {
                if let last = lastScrub {
                    let wait = Self.scrubInterval - Double(WriterStats.monotonicNanos() - last) / 1e9
                    if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
                }
                // Copy back what it can without waiting, then TRUNCATE. TRUNCATE takes the
                // write lock and waits for readers on older snapshots: with a short busy
                // timeout, so the writer is held up 50 ms at most; busy, it backs off and
                // tries again (a long read delays the scrub, never the writes).
                _ = try? connection.checkpoint(truncate: false)
                sqlite3_busy_timeout(connection.connection, 50)
                let r = try? connection.checkpoint(truncate: true)
                sqlite3_busy_timeout(connection.connection, busyTimeoutMilliseconds)
                if let r, r.walFrames == 0 {
                    lastScrub = WriterStats.monotonicNanos()
                    state.withLock { $0.scrubs += 1 }
                } else {
                    usleep(250_000)
                    requestScrub()
                }
                continue
            }
            // SQLITE_BUSY (another checkpoint running) or an I/O error: the WAL simply
            // stays longer; the next request (or the writer's fallback) tries again.
            _ = try? connection.checkpoint(truncate: false)
        }
        connection.close()
    }
}
