import Synchronization

/// Counters of the writer thread, readable from any thread at any time (for
/// metrics and tests). Written only by the writer thread; relaxed atomics are
/// enough because each counter is read on its own, not as a consistent snapshot.
public final class WriterStats: Sendable {
    private let committed = Atomic<Int>(0)
    private let failedTransactions = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let failedCommands = Atomic<Int>(0)
    private let lastBatch = Atomic<Int>(0)
    private let maxBatch = Atomic<Int>(0)
    /// Bucket i counts batches of size in (2^(i-1), 2^i]: 1, 2, 3-4, 5-8, ... The
    /// shape shows whether group commit is happening (sizes > 1 under load).
    private let histogram = Mutex<[Int]>(Array(repeating: 0, count: WriterStats.bucketCount))

    static let bucketCount = 16

    init() {}

    /// Transactions that reached a successful COMMIT.
    public var transactionsCommitted: Int { committed.load(ordering: .relaxed) }
    /// Transactions rolled back because BEGIN, COMMIT or SQLite itself failed them.
    public var transactionsFailed: Int { failedTransactions.load(ordering: .relaxed) }
    /// Commands whose completion has been (or is being) called, successful or not.
    public var commandsCompleted: Int { completed.load(ordering: .relaxed) }
    /// Commands completed with an error (their own, or their transaction's).
    public var commandsFailed: Int { failedCommands.load(ordering: .relaxed) }
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

    func recordCommit() { committed.add(1, ordering: .relaxed) }
    func recordFailedTransaction() { failedTransactions.add(1, ordering: .relaxed) }

    func recordCompleted(commands: Int, failed: Int) {
        completed.add(commands, ordering: .relaxed)
        failedCommands.add(failed, ordering: .relaxed)
    }
}
