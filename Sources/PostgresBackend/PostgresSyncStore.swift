import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// The PostgreSQL backend: several stateless nodes over one database.
///
/// - **Writes**: writer threads with group commit, `Options.writers` for the whole
///   cluster, shared by its live nodes (`shareWriters`). Each drains its queue
///   into one READ COMMITTED transaction; units run without savepoints, and a unit that
///   fails after changing rows (a domain error, a unique violation it does not handle, a
///   deadlock or lock timeout against another node) makes the batch replay with a
///   savepoint per unit, so it is undone alone (`GroupCommitWriter.runBatch`). A send and
///   a read marker are one call of a server-side function each (`ph_send`,
///   `ph_mark_read`, migrations/postgres/0008_write_functions.sql): a batch costs about
///   one statement per send plus four.
///   Units that lost a deadlock or a lock wait (`PGError.isRetryable`) run again in the
///   next transaction, never surfacing as an error. Sequences are assigned under row
///   locks (`rooms` row for a room's seq, `users` rows for inbox seqs, taken in user id
///   order within a statement). `lock_timeout` breaks a cross-node lock cycle sooner
///   than the server's deadlock detector. Completion runs only after COMMIT returned,
///   with `synchronous_commit = on`.
/// - **Broadcast**: each unit's news (`ClusterWrites.announce`) is sent with
///   `pg_notify` inside the same transaction, so other nodes hear it only at commit; a
///   listener thread per node `LISTEN`s on its own connection and delivers other nodes'
///   news to this node's Notifier (its own it already published). If that connection
///   drops, it reconnects and has every waiter query again.
/// - **Reads**: a pool of connections (`poolSize`); each snapshot is a REPEATABLE READ,
///   READ ONLY transaction on a borrowed connection.
/// - **Presence**: see `ClusterPresence`.
public final class PostgresSyncStore: SyncStore, @unchecked Sendable {
    public struct Options: Sendable {
        public var url: String
        /// Read connections per node (event loops and background jobs borrow one per snapshot).
        public var poolSize: Int
        /// Writers the cluster runs together: the database's write concurrency, shared by
        /// the live nodes. Each writer is a thread with its own connection and group
        /// commit; a unit's statements are round trips, and several writers overlap them
        /// (row locks keep the sequences exact whichever writer runs a unit). A node opens
        /// this many and gives units to `writers / live nodes` of them, at least one
        /// (`shareWriters`): past the database's cores, more writers only wait on each
        /// other's row locks with smaller batches (two nodes of two writers each sent
        /// about 25% less than one node of two, or two nodes of one, on 2 cores).
        /// A room's units always go to the same writer of a node (`submit(affinity:)`),
        /// so its writers do not wait for each other's room locks.
        public var writers = 2
        public var connectTimeoutSeconds: Int
        /// Longest wait for a row lock before the unit runs again in the next batch (a lock
        /// cycle between two nodes' batches ends here, sooner than deadlock_timeout).
        public var lockTimeoutMillis: Int
        /// Units per transaction at most.
        public var maxBatch: Int
        /// This process serves requests: it hears the other nodes' news and publishes its
        /// presence. False for a one-shot admin command (its units still broadcast).
        public var cluster = true
        /// How often presence is published and read (milliseconds).
        public var presenceIntervalMillis = 1000
        /// A batch's units send their first statements in one round trip (libpq pipeline
        /// mode; GroupCommitWriter+Pipeline.swift). Off: one round trip per statement.
        public var pipelining = true
        /// A pipelined round's consecutive sends go out as one `ph_send_batch` call
        /// (SendBatches.swift). Off: one call each (tests compare the two).
        public var sendBatches = true
        /// After recalls, rewrite the messages table (`VACUUM FULL`, locks it while it
        /// copies) rather than VACUUM it, so no byte of a recalled text stays in the file
        /// (`Scrubber`, `--db-scrub rewrite`).
        public var rewriteOnScrub = false
        public init(url: String, poolSize: Int = 8, connectTimeoutSeconds: Int = 5, lockTimeoutMillis: Int = 50,
                    maxBatch: Int = 256) {
            self.url = url
            self.poolSize = poolSize
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.lockTimeoutMillis = lockTimeoutMillis
            self.maxBatch = maxBatch
        }
    }

    public static let channel = "pigeonhole"

    public let options: Options
    /// This process's name in the cluster (NOTIFY payloads, presence rows).
    public let nodeID: String
    let pool: PGPool
    /// One thread per pool connection runs the reads (`read`); a snapshot borrows its
    /// connection from the pool, which background jobs share.
    private let readers: ReadThreads
    private let writers: [GroupCommitWriter]
    /// How many of `writers` take units (the first ones): see `shareWriters`.
    private let activeWriters: Atomic<Int>
    private let nextWriter = Atomic<Int>(0)
    private var listener: NewsListener?
    private var presence: ClusterPresence?
    private let stopped = Atomic<Bool>(false)
    /// Where other nodes' news goes (set by `joinCluster`); also told to recheck after
    /// an ambiguous commit of this node's own.
    private let deliver = DeliverTo()

    /// Connects, applies the embedded migrations (under an advisory lock, so nodes
    /// starting at once apply each exactly once) and starts the writer. Throws a
    /// `PGError` (connection) or `PostgresMigrationError` with a one-line message.
    public init(_ options: Options, applied: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.options = options
        scrubber = Scrubber(url: options.url, connectTimeoutSeconds: options.connectTimeoutSeconds, rewrite: options.rewriteOnScrub)
        var random = SystemRandomNumberGenerator()
        let bits: UInt64 = random.next()
        nodeID = "n" + String(bits & 0xFFFF_FFFF_FFFF, radix: 36) + "-\(getpid())"
        let admin = try PGConnection(url: options.url, connectTimeoutSeconds: options.connectTimeoutSeconds)
        for name in try PostgresMigrations.apply(to: admin) { applied(name) }
        admin.close()
        let pool = PGPool(url: options.url, size: options.poolSize, connectTimeoutSeconds: options.connectTimeoutSeconds)
        self.pool = pool
        readers = ReadThreads(count: options.poolSize) { PostgresReadConnection(pool: pool) }
        var writers: [GroupCommitWriter] = []
        do {
            let deliver = self.deliver
            for _ in 0..<max(1, options.writers) {
                writers.append(try GroupCommitWriter(options: options, nodeID: nodeID) { deliver.send(.recheckAll) })
            }
        } catch {
            for w in writers { w.stop() }
            readers.stop()
            throw error
        }
        self.writers = writers
        activeWriters = Atomic(writers.count)
    }

    /// Gives units to `writers / liveNodes` writers, at least one (presence counts the
    /// live nodes every interval). A room's units may move to another writer when the
    /// count changes; the one still holding some finishes them, and the room row's lock
    /// orders the two.
    func shareWriters(liveNodes: Int) {
        let share = max(1, writers.count / max(1, liveNodes))
        activeWriters.store(share, ordering: .relaxed)
    }

    /// Writers taking units now.
    public var writersActive: Int { activeWriters.load(ordering: .relaxed) }

    public func submit<T: Sendable>(_ unit: @escaping @Sendable (any StoreWriter) throws -> T, affinity: Int64?,
                                    completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        // A room's units on one writer: two writers' batches then never wait for each
        // other's room rows (a send, a join, a read marker lock their room first).
        let active = writersActive
        if let affinity, active > 1 {
            return writers[Int(UInt64(bitPattern: affinity) % UInt64(active))].submit(unit, completion: completion)
        }
        // The writer with the shortest queue (ties: round robin), so one slow batch
        // (a lock wait) does not hold units that others could run.
        let start = nextWriter.wrappingAdd(1, ordering: .relaxed).oldValue
        var best = writers[start % active]
        var bestDepth = best.depth
        for i in 1..<active where bestDepth > 0 {
            let w = writers[(start + i) % active]
            let d = w.depth
            if d < bestDepth { (best, bestDepth) = (w, d) }
        }
        best.submit(unit, completion: completion)
    }

    public func setBatchHooks(_ hooks: StoreBatchHooks?) { for w in writers { w.setBatchHooks(hooks) } }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T,
                                  completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        readers.snapshot(body, completion: completion)
    }

    public func readAhead<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T,
                                       completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        readers.snapshot(body, ahead: true, completion: completion)
    }

    public func ping(completion: @escaping @Sendable (Result<Void, SyncError>) -> Void) { readers.ping(completion: completion) }

    public func openReader() throws(SyncError) -> any StoreReadConnection {
        guard !stopped.load(ordering: .acquiring) else { throw .shuttingDown }
        return PostgresReadConnection(pool: pool)
    }

    /// Nodes serving requests share the database (an admin command alone does not count).
    public var isShared: Bool { options.cluster }

    public var stats: StoreStats {
        var sum = StoreStats()
        sum.writersActive = writersActive
        return writers.map(\.stats).reduce(into: sum) { total, s in
            total.transactionsCommitted += s.transactionsCommitted
            total.transactionsFailed += s.transactionsFailed
            total.unitsCompleted += s.unitsCompleted
            total.batchSizeHistogram = zipAdd(total.batchSizeHistogram, s.batchSizeHistogram)
            total.commitLatencyCounts = zipAdd(total.commitLatencyCounts, s.commitLatencyCounts)
            total.commitLatencySum += s.commitLatencySum
            total.commitBuckets = s.commitBuckets
            total.roundTrips += s.roundTrips
            total.pipelineFallbacks += s.pipelineFallbacks
        }
    }

    public func joinCluster(local: any Presence, deliver: @escaping @Sendable (RemoteNews) -> Void) -> any Presence {
        self.deliver.set(deliver)
        guard options.cluster else { return local }
        let listener = NewsListener(url: options.url, nodeID: nodeID, connectTimeoutSeconds: options.connectTimeoutSeconds,
                                    deliver: deliver)
        listener.start()
        self.listener = listener
        let presence = ClusterPresence(url: options.url, nodeID: nodeID, local: local,
                                       connectTimeoutSeconds: options.connectTimeoutSeconds,
                                       intervalMillis: options.presenceIntervalMillis) { [weak self] nodes in
            self?.shareWriters(liveNodes: nodes)
        }
        presence.start()
        self.presence = presence
        return presence
    }

    public func scrubErasedText() { scrubber.request() }
    public var scrubs: Int { scrubber.scrubs }

    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        scrubber.stop()
        readers.stop()
        for w in writers { w.stop() }
        listener?.stop()
        presence?.stop()
        pool.close()
    }

    private let scrubber: Scrubber

    /// Whether the listener is connected (tests; `/metrics` could show it).
    public var listening: Bool { listener?.connected ?? false }

    /// A unit's or a read's error as the domain sees it: the database away, busy or out
    /// of resources is `storageUnavailable` (503, retry); anything else from it (a
    /// constraint, a statement that does not run: a bug) is `unexpected` (500, logged).
    static func classify(_ error: any Error) -> SyncError {
        if let e = error as? SyncError { return e }
        guard let pg = error as? PGError else { return .unexpected(String(reflecting: error)) }
        if pg.connectionLost || pg.isRetryable { return .storageUnavailable }
        // 08 connection, 53 resources, 55 lock/object state, 57 operator intervention
        // (shutdown, cancel), 58 system error, XX internal error.
        switch pg.sqlState.map({ String($0.prefix(2)) }) {
        case "08", "53", "55", "57", "58", "XX": return .storageUnavailable
        default: return .unexpected(pg.description)
        }
    }
}

private func zipAdd(_ a: [Int], _ b: [Int]) -> [Int] {
    (0..<max(a.count, b.count)).map { (a.indices.contains($0) ? a[$0] : 0) + (b.indices.contains($0) ? b[$0] : 0) }
}
