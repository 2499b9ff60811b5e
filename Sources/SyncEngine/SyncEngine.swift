import Dispatch
import Glibc

import Synchronization

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
    /// An erasure round is running (`SyncEngine+Changes.swift`).
    let erasing = Flag()
    /// Inbox rows written by committed commands (write diffusion), for metrics.
    public let inboxRowsWritten = Counter()
    let retentionPosition = Retention.Position()
    let pullAcks = AckCoalescer()
    let activity = RoomActivity()
    /// Tokens resolved recently (writes skip the read); emptied of revoked devices.
    public let principals = PrincipalCache()
    /// Reads submitted to the store (`read(_:completion:)`; tests count them).
    public let readsStarted = Counter()
    private let jobs = Mutex<[DispatchSourceTimer]>([])
    /// Other nodes' news, published with the messages it names (`RemoteEvents`).
    let remoteEvents: RemoteEvents
    /// Revocations another process made (a single-process store: `RevocationSweep`).
    let revocations: RevocationSweep
    /// Other nodes' news published with messages read here (/metrics).
    public var remoteNewsRead: Int { remoteEvents.enriched.count }

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
        let reads = readsStarted
        let remote = RemoteEvents(notifier: notifier, after: { millis, body in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(millis), execute: body)
        }, read: { users, rooms, completion in
            reads.add(1)
            store.readAhead({ try RemoteEvents.events($0, users: users, rooms: rooms) }, completion: completion)
        })
        remoteEvents = remote
        let clusterPresence = store.joinCluster(local: notifier) { news in
            switch news {
            case .news(let n):
                principals.revoke(n.revoked.values.joined())
                remote.receive(n)
            case .recheckAll:
                principals.clear()
                notifier.recheckAll()
            }
        }
        self.presence = presence ?? clusterPresence
        self.config = config
        self.clock = clock
        revocations = RevocationSweep(since: clock())
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
            startChangeJobs(&timers)
            // Several nodes hear of every revocation through the cluster's notifications.
            if !store.isShared {
                timers.append(Self.timer(every: config.revocationSweepInterval) { [self] in sweepRevocations() })
            }
        }
    }

    /// Prunes batch after batch until nothing old remains, then calls `done`.
    public func pruneRound(_ done: @escaping @Sendable () -> Void) {
        write({ try Retention.prune($0) }) { [self] result in
            if case .success(let r) = result, r.more { pruneRound(done) } else { done() }
        }
    }

    static func timer(every interval: Duration, _ handler: @escaping @Sendable () -> Void) -> DispatchSourceTimer {
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
        readsStarted.add(1)
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
