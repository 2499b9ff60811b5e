import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// Erased text leaves the database files (docs/message-changes.md, "Erasing what was
/// said"). A recall empties the body in place, but PostgreSQL keeps the old row version
/// until VACUUM and the WAL records until their segment goes: after recalls this thread
/// runs, on a connection of its own, `VACUUM messages` (prunes the dead versions), then
/// `CHECKPOINT` and `pg_switch_wal()` twice, so the segments that held the text are
/// behind two checkpoints and removed (deleted, with `wal_recycle = off`). A role
/// without the rights (pg_checkpoint, EXECUTE on pg_switch_wal) gets the VACUUM only;
/// the log says so once.
final class Scrubber: @unchecked Sendable {
    private struct State {
        var requested = false
        var stopping = false
        var done = 0
        var warned = false
    }

    private let url: String
    private let connectTimeoutSeconds: Int
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    init(url: String, connectTimeoutSeconds: Int) {
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

    private func main() {
        var conn: PGConnection?
        while true {
            wake.wait()
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
                try c.execute("VACUUM messages")
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
