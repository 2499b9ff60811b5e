/// A storage backend as the engine sees it: a queue of units of work (group-committed
/// however the backend likes) and read connections whose every use is one snapshot.
///
/// What every backend must guarantee (the conformance suite checks each):
/// - **Durability before completion.** A unit of work's completion runs only after its
///   effects are durably committed; a failed unit leaves no effect.
/// - **Snapshots.** Everything one `StoreReadConnection.snapshot` call reads is one
///   consistent snapshot of committed data.
/// - **Per-room seq**: gapless and strictly increasing per room, assigned by the store
///   under the room row's lock, never computed by the domain. A backend with row locks
///   does it in one `UPDATE ... RETURNING`; the SQLite backend's single writer holds the
///   database's write lock from `BEGIN IMMEDIATE` to `COMMIT`, so its read and update
///   of `last_seq` are one atomic step (and cheaper there than RETURNING).
/// - **Per-user inbox seq**: strictly increasing per user, assigned under the user
///   row's lock; rows locked in a fixed order (user id) so concurrent units cannot
///   deadlock.
/// - **Commit position**: non-decreasing within a unit; a cursor's per-stream positions
///   (inbox seq, each hot room's seq) are the correctness guarantee, so units committing
///   out of position order may change the interleaving of a page, never skip or repeat.
/// - **Idempotency**: `(sender, client_msg_id)` is unique; of two concurrent sends with
///   the same key exactly one message is stored and the other returns it.
/// - **Errors**: a unit or read that fails because the database is away, busy or out of
///   resources surfaces as `SyncError.storageUnavailable` (or `.shuttingDown` once `stop`
///   began); any other error (a constraint a bug broke, a statement that does not run, an
///   error type nobody expects) as `SyncError.unexpected` with its detail, never as a
///   backend error type; `SyncError`s thrown by the domain pass through unchanged.
public protocol SyncStore: AnyObject, Sendable {
    /// Queues `unit` for the next commit. `completion` is called exactly once, after the
    /// commit is durable (or the unit failed); quickly, and without blocking.
    /// `affinity` (a room's id) lets a store with several writers run the units of one
    /// room on one writer, so its writers do not wait for each other's room locks;
    /// nil: any writer.
    func submit<T: Sendable>(_ unit: @escaping @Sendable (any StoreWriter) throws -> T, affinity: Int64?,
                             completion: @escaping @Sendable (Result<T, SyncError>) -> Void)
    /// Work that belongs to a whole commit rather than to one unit (see `StoreBatchHooks`).
    func setBatchHooks(_ hooks: StoreBatchHooks?)
    /// Runs `body` in one snapshot on a thread of the store's own (never the caller's:
    /// an event loop submits and goes on serving sockets), then calls `completion` there
    /// with its value or error; `completion` must hop to wherever the answer belongs.
    func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T,
                           completion: @escaping @Sendable (Result<T, SyncError>) -> Void)
    /// `read`, run before the reads already waiting for a thread: for a read that many
    /// waiters wait on (another node's news, read once for the pulls it wakes;
    /// `RemoteEvents`, which keeps at most one under way, so the others are not starved).
    func readAhead<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T,
                                completion: @escaping @Sendable (Result<T, SyncError>) -> Void)
    /// A cheap round trip to the database (health checks), run like `read`.
    func ping(completion: @escaping @Sendable (Result<Void, SyncError>) -> Void)
    /// A read connection for one thread that may block (a background job such as the
    /// push dispatcher, an admin command, tests); never for an event loop.
    func openReader() throws(SyncError) -> any StoreReadConnection
    /// Counters for /metrics.
    /// Several nodes write through this store (one database, several processes): rate
    /// limits are then also taken from buckets in the store (`RateBuckets`), for the
    /// cluster as a whole. False when one process has the store to itself.
    var isShared: Bool { get }
    var stats: StoreStats { get }
    /// This process's Notifier joins the cluster: a store serving several nodes delivers
    /// the other nodes' news (`ClusterWrites.announce`) to `deliver`, and returns the
    /// presence that knows every node's connections (`local` answers for this node).
    /// A single-process store delivers nothing and returns `local`. Called once, by the
    /// engine, before any unit is submitted.
    func joinCluster(local: any Presence, deliver: @escaping @Sendable (RemoteNews) -> Void) -> any Presence
    /// Erased text (a recall, an erasure) must leave the database's files too, not only
    /// its rows: asks the store to scrub soon (SQLite: a truncating checkpoint of the WAL;
    /// PostgreSQL: VACUUM and WAL segment switches), on a thread of its own. Requests
    /// while one runs fold into the next.
    func scrubErasedText()
    /// Scrubs completed since the store opened (tests wait for one).
    var scrubs: Int { get }
    /// Stops taking units, commits what is queued, and closes. Idempotent.
    func stop()
}

/// `began` runs at the start of every commit's transaction (again if the backend
/// retries it: state gathered by the discarded run is dropped), `beforeCommit` just
/// before it commits, inside it. If `beforeCommit` throws, the commit fails whole.
public struct StoreBatchHooks: Sendable {
    public var began: @Sendable () -> Void
    public var beforeCommit: @Sendable (any StoreWriter) throws -> Void
    public init(began: @escaping @Sendable () -> Void, beforeCommit: @escaping @Sendable (any StoreWriter) throws -> Void) {
        self.began = began
        self.beforeCommit = beforeCommit
    }
}

/// One thread's connection for reads. Not shared between threads.
public protocol StoreReadConnection: AnyObject {
    /// Runs `body` in one snapshot (a read transaction).
    func snapshot<T>(_ body: (any StoreReader) throws -> T) throws(SyncError) -> T
    /// A cheap round trip to the database (health checks).
    func ping() throws(SyncError)
    func close()
}

extension ReadThreads {
    /// `SyncStore.read` on these threads: one snapshot on the thread's connection
    /// (`ahead`: `SyncStore.readAhead`).
    public func snapshot<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T, ahead: Bool = false,
                                      completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        submit({ connection in
            completion(connection.flatMap { c in Result { () throws(SyncError) in try c.snapshot(body) } })
        }, ahead: ahead)
    }

    /// `SyncStore.ping` on these threads.
    public func ping(completion: @escaping @Sendable (Result<Void, SyncError>) -> Void) {
        submit { connection in
            completion(connection.flatMap { c in Result { () throws(SyncError) in try c.ping() } })
        }
    }
}

/// What the write path has done, for /metrics.
public struct StoreStats: Sendable {
    public var transactionsCommitted = 0
    public var transactionsFailed = 0
    public var unitsCompleted = 0
    /// Units per commit: counts per power-of-two bucket (1, 2, 4, ...).
    public var batchSizeHistogram: [Int] = []
    /// Begin-to-durable-commit latency: counts per bucket of `commitBuckets` (last: above
    /// all), and the sum in seconds.
    public var commitLatencyCounts: [Int] = []
    public var commitLatencySum: Double = 0
    public var commitBuckets: [Double] = []
    /// Round trips the writers made to a networked database (a statement, or a pipeline
    /// of them, each one); 0 for an embedded one.
    public var roundTrips = 0
    /// Pipelined batches that diverged and ran again unpipelined (PostgreSQL).
    public var pipelineFallbacks = 0
    /// Writers taking units now (PostgreSQL: the cluster's writers shared among its live
    /// nodes); 1 for an embedded store.
    public var writersActive = 1
    public init() {}
}
