import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// Erased text leaves the database files (docs/message-changes.md, "Erasing what was
/// said"). A recall empties the body in place, but PostgreSQL keeps the old row version
/// until VACUUM and the WAL records until their segment goes: after recalls this thread
/// runs, on a connection of its own, once the snapshots and transactions older than the
/// request are gone (they keep old versions alive), `VACUUM messages` (prunes the dead versions), then
/// `CHECKPOINT` and `pg_switch_wal()` twice, so the segments that held the text are
/// behind two checkpoints and removed (deleted, with `wal_recycle = off`). A role
/// without the rights (pg_checkpoint, EXECUTE on pg_switch_wal) gets the VACUUM only;
/// the log says so once.
///
/// VACUUM removes the old versions but PostgreSQL does not zero the space they leave in
/// their page (it has no secure delete): those bytes stay in the table's file until new
/// rows reuse the space. `--db-scrub rewrite` runs `VACUUM FULL messages` instead, which
/// writes the live rows to a new file and deletes the old one, so nothing of the text is
/// left; it locks the table while it copies (seconds on a large one), so it is for
/// deployments that must prove erasure (docs/message-changes.md).
final class Scrubber: @unchecked Sendable {
    private struct State {
        var requested = false
        var stopping = false
        var done = 0
        var warned = false
    }

    private let url: String
    private let connectTimeoutSeconds: Int
    /// `VACUUM FULL` rather than `VACUUM` (`--db-scrub rewrite`).
    private let rewrite: Bool
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    init(url: String, connectTimeoutSeconds: Int, rewrite: Bool) {
        self.rewrite = rewrite
        self.url = url
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// Scrubs completed.
    var scrubs: Int { state.withLock { $0.done } }

    /// Asks for a scrub soon (requests while one runs fold into the next).
    func request() {
        if !started.exchange(true, ordering: .acquiringAndReleasing) {
            StoreThread.start { [self] in
                main()
                finished.signal()
            }
        }
        state.withLock { $0.requested = true }
        wake.signal()
    }

    func stop() {
        state.withLock { $0.stopping = true }
        wake.signal()
        if started.load(ordering: .acquiring) { finished.wait() }
    }

    /// The sessions that may still keep a version older than the xid `$1` (see `main`):
    /// this database's with an older xmin or xid, and with `$2` (VACUUM FULL) any
    /// database's with an older xid.
    private static let olderThan = """
        SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()
           AND ((datname = current_database() AND backend_xmin IS NOT NULL AND age(backend_xmin) > age($1::text::xid))
                OR ((datname = current_database() OR $2) AND backend_xid IS NOT NULL AND age(backend_xid) > age($1::text::xid)))
        """

    /// Scrubs are at least this far apart (VACUUM FULL locks the table: recalls in a burst,
    /// or a client repeating them, fold into one scrub per interval).
    static let interval = 10.0

    private func retryLater(seconds: Double) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in request() }
    }

    private func main() {
        var conn: PGConnection?
        var lastScrub: DispatchTime?
        while true {
            wake.wait()
            if let last = lastScrub {
                // The spacing, cut short by `stop`.
                let deadline = last + Self.interval
                while DispatchTime.now() < deadline, !state.withLock({ $0.stopping }) { _ = wake.wait(timeout: deadline) }
            }
            let (go, stopping) = state.withLock { s -> (Bool, Bool) in
                defer { s.requested = false }
                return (s.requested, s.stopping)
            }
            if stopping { break }
            guard go else { continue }
            do {
                let c = try conn ?? PGConnection(url: url, connectTimeoutSeconds: connectTimeoutSeconds,
                                                 applicationName: "pigeonhole-scrub")
                conn = c
                // What may still see the old row version keeps it alive through VACUUM (and
                // VACUUM FULL copies it into its new file): a snapshot of this database whose
                // horizon is older than the recall, and as much a transaction of this
                // database that took its xid before it, with or without a snapshot now (idle
                // between statements, as a writer between the round trips of its batch:
                // every snapshot taken meanwhile counts it as running). VACUUM FULL's own
                // snapshot counts every running xid of the cluster, so for it a transaction
                // of any database holding an xid counts too. Wait (up to 5 s) until none
                // is older than the next xid at this moment (the recall committed before
                // it). Compared by age: xids wrap. (A role without pg_read_all_stats sees
                // no xid of other roles' sessions: those are not waited for.)
                let horizon = try c.queryOne(
                    "SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::numeric % 4294967296)::text", []) { $0.text(0) } ?? "3"
                var older: Int64 = 0
                for _ in 0..<100 {
                    older = try c.queryOne(Self.olderThan, [.text(horizon), .bool(rewrite)]) { $0.int64(0) } ?? 0
                    if older == 0 || state.withLock({ $0.stopping }) { break }
                    usleep(50_000)
                }
                if older > 0 {
                    // Still there after 5 s: VACUUM could not remove the text now (and
                    // VACUUM FULL would copy it). Not done: try again later.
                    retryLater(seconds: 5)
                    continue
                }
                if rewrite {
                    // A new file with the live rows only; the old one is unlinked. It
                    // locks the table while it copies: a lock it cannot get within 2 s is
                    // given up (sends are not held behind it), and tried again.
                    try c.execute("SET lock_timeout = '2s'")
                    do {
                        try c.execute("VACUUM FULL messages")
                    } catch {
                        retryLater(seconds: 1)
                        continue
                    }
                } else {
                    try c.execute("VACUUM messages")
                }
                do {
                    try c.execute("CHECKPOINT; SELECT pg_switch_wal(); CHECKPOINT; SELECT pg_switch_wal(); CHECKPOINT")
                } catch {
                    let first = state.withLock { s -> Bool in
                        defer { s.warned = true }
                        return !s.warned
                    }
                    if first {
                        StandardError.write("level=warn msg=\"recalled text stays in the WAL until its segments are recycled: this role may not CHECKPOINT or pg_switch_wal (docs/message-changes.md)\" error=\"\(error)\"\n")
                    }
                }
                state.withLock { $0.done += 1 }
                lastScrub = DispatchTime.now()
            } catch {
                conn?.close()
                conn = nil
                // The database away: try again on the next request.
            }
        }
        conn?.close()
    }
}

enum StandardError {
    static func write(_ line: String) {
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
