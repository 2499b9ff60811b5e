import Glibc
import Synchronization

/// Counters of the writer thread, readable from any thread at any time (for
/// metrics and tests). Written only by the writer thread; relaxed atomics are
/// enough because each counter is read on its own, not as a consistent snapshot.
public final class WriterStats: Sendable {
    private let committed = Atomic<Int>(0)
    private let failedTransactions = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let failedCommands = Atomic<Int>(0)
    private let replays = Atomic<Int>(0)
    private let lastBatch = Atomic<Int>(0)
    private let maxBatch = Atomic<Int>(0)
    /// Bucket i counts batches of size in (2^(i-1), 2^i]: 1, 2, 3-4, 5-8, ... The
    /// shape shows whether group commit is happening (sizes > 1 under load).
    private let histogram = Mutex<[Int]>(Array(repeating: 0, count: WriterStats.bucketCount))

    static let bucketCount = 16
    /// Upper bounds (seconds) of the commit latency histogram (BEGIN to COMMIT, fsync included).
    public static let commitBuckets: [Double] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1]
    private let commitCounts = Mutex<[Int]>(Array(repeating: 0, count: WriterStats.commitBuckets.count + 1))
    private let commitSumNanos = Atomic<Int>(0)

    init() {}

    /// Transactions that reached a successful COMMIT.
    public var transactionsCommitted: Int { committed.load(ordering: .relaxed) }
    /// Transactions rolled back because BEGIN, COMMIT or SQLite itself failed them.
    public var transactionsFailed: Int { failedTransactions.load(ordering: .relaxed) }
    /// Commands whose completion has been (or is being) called, successful or not.
    public var commandsCompleted: Int { completed.load(ordering: .relaxed) }
    /// Commands completed with an error (their own, or their transaction's).
    public var commandsFailed: Int { failedCommands.load(ordering: .relaxed) }
    /// Batches rolled back and run again with a savepoint per command, because a
    /// command failed after changing rows (see `WriterCore.runTransaction`).
    public var transactionsReplayed: Int { replays.load(ordering: .relaxed) }
    /// Commands taken off the queue together in the most recent batch.
    public var lastBatchSize: Int { lastBatch.load(ordering: .relaxed) }
    public var maxBatchSize: Int { maxBatch.load(ordering: .relaxed) }
    /// Batch counts by size bucket: index i holds sizes in (2^(i-1), 2^i], the last
    /// bucket everything larger.
    public var batchSizeHistogram: [Int] { histogram.withLock { $0 } }

    // MARK: Writer thread only

    func recordBatch(size: Int) {
        lastBatch.store(size, ordering: .relaxed)
        if size > maxBatch.load(ordering: .relaxed) { maxBatch.store(size, ordering: .relaxed) }
        var bucket = 0
        while bucket < Self.bucketCount - 1 && (1 << bucket) < size { bucket += 1 }
        histogram.withLock { $0[bucket] += 1 }
    }

    /// Commit latency: counts per bucket of `commitBuckets` (last: above all), and the sum.
    public var commitLatency: (counts: [Int], sumSeconds: Double) {
        (commitCounts.withLock { $0 }, Double(commitSumNanos.load(ordering: .relaxed)) / 1e9)
    }

    func recordCommit(nanos: UInt64) {
        committed.add(1, ordering: .relaxed)
        commitSumNanos.add(Int(nanos), ordering: .relaxed)
        let seconds = Double(nanos) / 1e9
        let bucket = Self.commitBuckets.firstIndex { seconds <= $0 } ?? Self.commitBuckets.count
        commitCounts.withLock { $0[bucket] += 1 }
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    func recordReplay() { replays.add(1, ordering: .relaxed) }
    func recordFailedTransaction() { failedTransactions.add(1, ordering: .relaxed) }

    func recordCompleted(commands: Int, failed: Int) {
        completed.add(commands, ordering: .relaxed)
        failedCommands.add(failed, ordering: .relaxed)
    }
}
