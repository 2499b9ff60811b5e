import CLinux
import Dispatch
import Glibc
import Synchronization

/// Where a backend runs its reads: a few threads, each owning one read connection, taking
/// jobs first in, first out. `SyncStore.read` hands a snapshot here and returns at once,
/// so no thread that serves sockets ever waits on a database (ARCHITECTURE.md,
/// "Concurrency"); the job's completion hops back to the caller's loop.
///
/// A thread opens its connection on its first job (and again on the next job if that
/// failed), so a database that is away at start costs the jobs in between a
/// `storageUnavailable`, never a dead thread. `stop` runs what is queued; jobs submitted
/// after it fail with `shuttingDown`.
public final class ReadThreads: Sendable {
    /// A job gets its thread's connection, or the error that kept it from opening one.
    public typealias Job = @Sendable (Result<any StoreReadConnection, SyncError>) -> Void

    private struct Queue {
        /// Jobs queued ahead of `jobs` (`submit(_:ahead:)`), first in, first out.
        var ahead: [Job] = []
        var jobs: [Job] = []
        var head = 0
        var stopping = false
        var running = 0
    }

    private let queue = Mutex(Queue())
    private let ready = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let open: @Sendable () throws(SyncError) -> any StoreReadConnection
    public let count: Int

    /// Starts `count` threads; `open` makes one read connection (on the thread that uses it).
    public init(count: Int, open: @escaping @Sendable () throws(SyncError) -> any StoreReadConnection) {
        self.count = max(1, count)
        self.open = open
        queue.withLock { $0.running = self.count }
        for i in 0..<self.count {
            StoreThread.start { [self] in
                StoreThread.setName("ph-read-\(i)")
                run()
            }
        }
    }

    /// Queues `job`; it runs on one of the threads (or fails with `shuttingDown` at once).
    /// `ahead`: before every job queued without it (a read that many waiters wait on).
    public func submit(_ job: @escaping Job, ahead: Bool = false) {
        let accepted = queue.withLock { q -> Bool in
            guard !q.stopping else { return false }
            if ahead { q.ahead.append(job) } else { q.jobs.append(job) }
            return true
        }
        if accepted { ready.signal() } else { job(.failure(.shuttingDown)) }
    }

    /// Runs what is queued, then ends the threads and closes their connections. Idempotent.
    public func stop() {
        let first = queue.withLock { q -> Bool in
            defer { q.stopping = true }
            return !q.stopping
        }
        guard first else { return }
        for _ in 0..<count { ready.signal() }
        for _ in 0..<count { finished.wait() }
    }

    private func next() -> Job? {
        while true {
            ready.wait()
            let (job, stop) = queue.withLock { q -> (Job?, Bool) in
                if !q.ahead.isEmpty { return (q.ahead.removeFirst(), false) }
                guard q.head < q.jobs.count else { return (nil, q.stopping) }
                let job = q.jobs[q.head]
                q.head += 1
                // Compact now and then, so the array does not grow without bound.
                if q.head >= 64 && q.head * 2 >= q.jobs.count {
                    q.jobs.removeFirst(q.head)
                    q.head = 0
                }
                return (job, false)
            }
            if let job { return job }
            if stop { return nil }
        }
    }

    private func run() {
        var connection: (any StoreReadConnection)?
        while let job = next() {
            if connection == nil {
                do throws(SyncError) { connection = try open() } catch { job(.failure(error)); continue }
            }
            job(.success(connection!))
        }
        connection?.close()
        finished.signal()
    }
}

/// A detached thread running `body` (read threads, the PostgreSQL writers, listener and
/// presence). The closure travels as the `void*` argument: a capturing closure as a C
/// function pointer crashes the Swift 6 compiler (SWIFT-NOTES G12).
public enum StoreThread {
    private final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Names the calling thread (what `top -H` and `perf` show; at most 15 bytes).
    public static func setName(_ name: String) {
        _ = pthread_setname_np(pthread_self(), String(name.utf8.prefix(15))!)
    }

    public static func start(_ body: @escaping @Sendable () -> Void) {
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(Box(body)).toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(tid)
    }
}
