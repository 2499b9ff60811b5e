import Dispatch
import Glibc

import Synchronization

public struct EngineConfiguration: Sendable {
    public var maxMessageBodyBytes = 16 * 1024
    public var maxPullLimit = 1000
    public var defaultPullLimit = 100
    public var maxHistoryLimit = 100
    public var defaultHistoryLimit = 20
    public var maxConversationLimit = 100
    public var defaultConversationLimit = 20
    /// Rooms one user may be in. Every hot room a user is in takes a place in their
    /// cursor, which must stay well under the 8,192-byte cursor limit (and under the
    /// 8 KB request lines proxies accept): 1,150 hot rooms made every cursor invalid.
    /// 500 hot rooms make a cursor of about 4.5 KB. A user at the limit cannot be added
    /// to another room (409 `room_limit`) until they leave one.
    public var maxRoomsPerUser = 500
    /// Members per page of `GET /v1/rooms/{id}/members`.
    public var maxMemberLimit = 1000
    public var defaultMemberLimit = 100
    public var maxPreview = 20
    public var maxRoomMembersPerRequest = 1000
    /// About how many bytes of JSON one page (sync, conversations, history) may carry,
    /// counted on what it carries (message bodies, sender, client_msg_id, previews) plus
    /// a fixed allowance per item, never by encoding twice. A page always carries at
    /// least one item, and one that stops early says so (`has_more`, `next_page`,
    /// `next_before`) and continues right after its last item. 1 MiB: 64 messages at the
    /// largest body (16 KiB), while small messages still fill `limit` (1,000 events of
    /// ~300 bytes are ~300 KB); a client that never reads holds ~1 MiB, not 16-33 MB.
    public var maxPageBytes = 1 << 20
    /// With `per_room_limit`, how many stream entries one catch-up page may scan.
    public var catchUpScanWindow = 10_000
    /// Rooms with at least this many members use read diffusion (ARCHITECTURE.md, "Ordering, cursors and the invariants").
    public var hotThreshold = 500
    /// At most one `receipts` event per room per sender per window.
    public var receiptsWindowMillis: Int64 = 1000
    /// Inbox rows (what offline devices have not pulled) are kept this long; a cursor
    /// older than what remains is expired (410). 0 keeps them forever.
    public var offlineRetentionMillis: Int64 = 7 * 86_400_000
    /// Messages (history) are kept this long. 0 keeps them forever.
    public var historyRetentionMillis: Int64 = 180 * 86_400_000
    /// How often the background job looks for data to prune.
    public var retentionInterval: Duration = .seconds(60)
    /// Queue offline pushes (set when a push webhook is configured).
    public var pushEnabled = false
    public var pushMaxAttempts = 8
    public var pushBackoffBaseMillis: Int64 = 1000
    public var pushBackoffMaxMillis: Int64 = 300_000
    public init() {}
}

/// The domain: accounts, rooms, messages, inboxes, cursors, pull, ack, unread.
///
/// Writes go to the store as one unit of work each (group-committed by the store);
/// their completion runs after the commit is durable, before the Notifier is told
/// which inboxes grew. Reads are units of work too: `read` runs one snapshot on the
/// store's read threads and completes there, so no event loop waits on a database. The engine knows nothing of HTTP or of which
/// database it runs on (ARCHITECTURE.md, "The store seam").
public final class SyncEngine: Sendable {
    public let store: any SyncStore
    public let notifier: Notifier
    /// "Does this user have a live connection?", asked when a send decides on offline
    /// pushes: this process's Notifier by default (see `Presence`).
    public let presence: any Presence
    public let config: EngineConfiguration
    let clock: @Sendable () -> Int64
    /// Set when coalesced receipts wait for their window; the background job flushes them.
    let receiptsPending = Flag()
    /// Inbox rows written by committed commands (write diffusion), for metrics.
    public let inboxRowsWritten = Counter()
    let retentionPosition = Retention.Position()
    let pullAcks = AckCoalescer()
    let activity = RoomActivity()
    /// Tokens resolved recently (writes skip the read); emptied of revoked devices.
    public let principals = PrincipalCache()
    private let jobs = Mutex<[DispatchSourceTimer]>([])

    /// `clock` is the wall clock in milliseconds since the epoch (timestamps, retention,
    /// receipts windows): tests pass a fake one to age data without sleeping.
    public init(store: any SyncStore, notifier: Notifier = Notifier(), presence: (any Presence)? = nil,
                config: EngineConfiguration = EngineConfiguration(),
                clock: @escaping @Sendable () -> Int64 = SyncEngine.nowMillis) {
        self.store = store
        self.notifier = notifier
        // A store serving several nodes delivers their news to this node's Notifier and
        // answers presence for all of them; a single-process store returns `notifier`.
        let principals = self.principals
        let clusterPresence = store.joinCluster(local: notifier) { news in
            switch news {
            case .news(let n):
                principals.revoke(n.revoked.values.joined())
                notifier.publish(n)
            case .recheckAll:
                principals.clear()
                notifier.recheckAll()
            }
        }
        self.presence = presence ?? clusterPresence
        self.config = config
        self.clock = clock
        let activity = self.activity
        store.setBatchHooks(StoreBatchHooks(began: { activity.reset() }, beforeCommit: { try activity.flush($0) }))
    }

    /// The wall clock this engine runs on (milliseconds since the epoch).
    public var now: Int64 { clock() }

    public static let nowMillis: @Sendable () -> Int64 = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }


    /// Runs `body` as one command of the next group commit. On success the inboxes it
    /// recorded in `WriteContext.wakes` are published, then `completion` runs. `room`:
    /// the room the unit is about, if one (a store with several writers keeps a room's
    /// units on one of them).
    /// `rowsWritten`, if given, is told the inbox rows the unit wrote (before `completion`).
    public func write<T: Sendable>(room: RoomID? = nil, rowsWritten: (@Sendable (Int) -> Void)? = nil,
                                   _ body: @escaping @Sendable (WriteContext) throws -> T,
                                   completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        let clock = self.clock
        let notifier = self.notifier
        let config = self.config
        let pendingFlag = self.receiptsPending
        let position = self.retentionPosition
        let activity = self.activity
        let counter = self.inboxRowsWritten
        let presence = self.presence
        let principals = self.principals
        // A unit may run more than once (a store replays a batch, or probes it first:
        // PostgresBackend's pipelining); every run reads the time of the first.
        let firstRun = FirstRunTime()
        store.submit({ store -> Outcome<T> in
            let ctx = WriteContext(store: store, now: firstRun.time(clock), config: config, receiptsPending: pendingFlag,
                                   retentionPosition: position)
            if config.pushEnabled { ctx.isOnline = { presence.isOnline($0) } }
            let value = try body(ctx)
            activity.add(ctx.activeRooms)   // only commands that succeeded
            let news = StoreNews(users: ctx.wakes, rooms: ctx.roomWakes, receipts: ctx.receiptWakes, revoked: ctx.revoked)
            if !news.isEmpty { try store.announce(news) }
            return Outcome(value: value, wakes: ctx.wakes, roomWakes: ctx.roomWakes, receiptWakes: ctx.receiptWakes,
                           revoked: ctx.revoked, inboxRows: ctx.inboxRows, events: ctx.wakeEvents)
        }, affinity: room?.rawValue, completion: { result in
            switch result {
            case .success(let outcome):
                counter.add(outcome.inboxRows)
                rowsWritten?(outcome.inboxRows)
                // Before the answer: a revoked token must not work a moment longer here.
                principals.revoke(outcome.revoked.values.joined())
                // The durable ack first: it is one task on one loop, while a fan-out can be
                // a thousand; published first, they would all run before the sender's 201.
                completion(.success(outcome.value))
                notifier.publish(users: outcome.wakes, rooms: outcome.roomWakes, receipts: outcome.receiptWakes,
                                 revoked: outcome.revoked, events: outcome.events)
            case .failure(let error):
                completion(.failure(error))
            }
        })
    }

    /// Starts the periodic duties: flushing coalesced receipts, and retention (in small
    /// batches, repeated while there is more). Idempotent.
    public func startBackgroundJobs(interval: Duration = .milliseconds(250)) {
        jobs.withLock { timers in
            guard timers.isEmpty else { return }
            timers.append(Self.timer(every: interval) { [self] in flushPullAcks() })
            timers.append(Self.timer(every: interval) { [self] in
                guard receiptsPending.take() else { return }
                write({ try Receipts.flush($0) }) { [self] result in
                    if case .success(let remaining) = result, remaining == 0 { return }
                    receiptsPending.set()
                }
            })
            let busy = Flag()
            timers.append(Self.timer(every: config.retentionInterval) { [self] in
                guard busy.trySet() else { return }   // the previous round is still running
                pruneRound { _ = busy.take() }
            })
        }
    }

    /// Prunes batch after batch until nothing old remains, then calls `done`.
    public func pruneRound(_ done: @escaping @Sendable () -> Void) {
        write({ try Retention.prune($0) }) { [self] result in
            if case .success(let r) = result, r.more { pruneRound(done) } else { done() }
        }
    }

    private static func timer(every interval: Duration, _ handler: @escaping @Sendable () -> Void) -> DispatchSourceTimer {
        let t = DispatchSource.makeTimerSource(queue: .global())
        let ms = max(1, Int(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000))
        t.schedule(deadline: .now() + .milliseconds(ms), repeating: .milliseconds(ms))
        t.setEventHandler(handler: handler)
        t.resume()
        return t
    }

    /// Stops the timers and writes what they would have written (the pulls' acks).
    public func stopBackgroundJobs() {
        jobs.withLock { timers in
            for t in timers { t.cancel() }
            timers.removeAll()
        }
        let done = DispatchSemaphore(value: 0)
        flushPullAcks { done.signal() }
        done.wait()
    }

    /// A read in one snapshot (everything it returns is consistent), run on the store's
    /// read threads, never on the caller's: `completion` runs there after, and must hop
    /// to the caller's loop itself.
    public func read<T: Sendable>(_ body: @escaping @Sendable (ReadContext) throws -> T,
                                  completion: @escaping @Sendable (Result<T, SyncError>) -> Void) {
        let clock = self.clock
        let config = self.config
        store.read({ store in try body(ReadContext(store: store, now: clock(), config: config)) }, completion: completion)
    }

    /// A read on `connection`, a connection of the caller's own on a thread that may
    /// block (background jobs, admin commands, tests): one snapshot.
    public func read<T>(_ connection: any StoreReadConnection, _ body: (ReadContext) throws -> T) throws(SyncError) -> T {
        let now = clock()
        let config = self.config
        return try connection.snapshot { store in try body(ReadContext(store: store, now: now, config: config)) }
    }

    struct Outcome<T: Sendable>: Sendable {
        let value: T
        let wakes: [UserID: Int64]
        let roomWakes: [RoomID: Int64]
        let receiptWakes: [UserID: Set<RoomID>]
        let revoked: [UserID: [DeviceID]]
        let inboxRows: Int
        let events: Notifier.Events
    }
}

/// What a write command gets: the writer's connection, the commit's clock reading,
/// and the list of inboxes to wake once the batch is durable.
/// Confined to the writer thread for the duration of one command.
public final class WriteContext {
    public let store: any StoreWriter
    public let now: Int64
    public let config: EngineConfiguration
    var wakes: [UserID: Int64] = [:]
    var roomWakes: [RoomID: Int64] = [:]
    /// The messages at exactly the woken seqs, where known (`Notifier.Events`).
    var wakeEvents = Notifier.Events()
    var receiptWakes: [UserID: Set<RoomID>] = [:]
    var revoked: [UserID: [DeviceID]] = [:]
    /// Inbox rows this unit wrote so far.
    public internal(set) var inboxRows = 0
    /// Normal rooms that had a message: every member's activity moves to `now`, once
    /// per room per batch (see `RoomActivity`).
    var activeRooms: [RoomID: Int64] = [:]
    let receiptsPending: Flag
    let retentionPosition: Retention.Position
    /// Whether a user has a live connection (parked pull or socket); set when pushes are on.
    var isOnline: ((UserID) -> Bool)?
    private var cachedPos: Int64?

    init(store: any StoreWriter, now: Int64, config: EngineConfiguration, receiptsPending: Flag, retentionPosition: Retention.Position) {
        self.store = store
        self.now = now
        self.config = config
        self.receiptsPending = receiptsPending
        self.retentionPosition = retentionPosition
    }

    func wake(_ user: UserID, at seq: Int64, message: Message? = nil) {
        guard seq >= (wakes[user] ?? 0) else { return }
        wakes[user] = seq
        wakeEvents.inbox[user] = message.map { (seq, $0) }
    }

    func wakeReceipts(_ user: UserID, room: RoomID) {
        receiptWakes[user, default: []].insert(room)
    }

    /// The members of `room` (a normal room) were active now: written before the batch commits.
    func roomActive(_ room: RoomID) {
        activeRooms[room] = max(now, activeRooms[room] ?? 0)
    }

    func wakeRoom(_ room: RoomID, at seq: Int64, message: Message? = nil) {
        guard seq >= (roomWakes[room] ?? 0) else { return }
        roomWakes[room] = seq
        wakeEvents.rooms[room] = message
    }

    /// The commit position for non-message inbox events (`MessagesWrites.commitPosition`),
    /// asked of the store once per command and then kept up to date by `messageInserted`.
    func position() throws -> Int64 {
        if let cachedPos { return cachedPos }
        let p = try store.commitPosition()
        cachedPos = p
        return p
    }

    /// A message was stored in this command: its id is the commit position from now on.
    func messageInserted(_ id: Int64) { cachedPos = id }
}

/// What a read gets: a read-only connection inside a read transaction.
public struct ReadContext {
    public let store: any StoreReader
    public let now: Int64
    public let config: EngineConfiguration
}

/// A thread-safe boolean for "work may be waiting".
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    /// Returns whether it was set, clearing it.
    func take() -> Bool { value.exchange(false, ordering: .acquiringAndReleasing) }
    /// Sets it; false if it was already set.
    func trySet() -> Bool { !value.exchange(true, ordering: .acquiringAndReleasing) }
}

/// A monotonically increasing count, readable from any thread.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public func add(_ n: Int) { value.wrappingAdd(n, ordering: .relaxed) }
    public var count: Int { value.load(ordering: .relaxed) }
}

/// Member activity of normal rooms, gathered over one batch and written once per room
/// just before COMMIT. A 200-member room used to rewrite its 199 other member rows
/// (and their activity index entries) for every message; a batch of 60 sends into it
/// now rewrites them once. `max()` keeps a later join time, so a member who joined
/// after the message in the same batch keeps their own. Reset at every BEGIN (a
/// replay gathers again). A batch's hooks and units all run on the thread of the
/// writer that runs it; a store may have several writer threads (PostgreSQL), so the
/// rooms are kept per thread. Written in room id order (a fixed lock order).
final class RoomActivity: Sendable {
    private let rooms = Mutex<[UInt: [RoomID: Int64]]>([:])

    private static var thread: UInt { UInt(pthread_self()) }

    func reset() { rooms.withLock { $0[Self.thread] = [:] } }

    func add(_ active: [RoomID: Int64]) {
        guard !active.isEmpty else { return }
        let t = Self.thread
        rooms.withLock { all in
            for (room, at) in active { all[t, default: [:]][room] = max(at, all[t]?[room] ?? 0) }
        }
    }

    func flush(_ db: any StoreWriter) throws {
        let t = Self.thread
        let mine = rooms.withLock { $0.removeValue(forKey: t) } ?? [:]
        // A failure here fails the whole batch, as a failed COMMIT does. One store
        // operation for all the batch's rooms (one statement on PostgreSQL).
        if !mine.isEmpty { try db.touchMembers(rooms: mine) }
    }
}

/// The time a unit of work first ran, for its reruns.
final class FirstRunTime: Sendable {
    private let value = Mutex<Int64?>(nil)

    func time(_ clock: () -> Int64) -> Int64 {
        value.withLock { v in
            if let v { return v }
            let t = clock()
            v = t
            return t
        }
    }
}
