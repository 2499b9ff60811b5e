import Synchronization

/// Tells waiting pulls and WebSocket subscribers that a stream grew.
///
/// Two kinds of news, both published by the writer after a commit:
/// - "user U's inbox is now at seq N" (write diffusion), to U's subscribers;
/// - "hot room R is now at seq S" (read diffusion), to the subscribers that listed R:
///   only members with a parked pull or an open socket, never every member.
///
/// News names positions; it may carry the message at exactly that position (`Events`),
/// which saves the woken party a query, but never stands in for the database: a lost or
/// coalesced notification loses no data, the woken party queries.
public final class Notifier: Sendable {
    public enum News: Sendable {
        /// The user's inbox grew to this seq; with the message when the row at exactly
        /// that seq is known to be it (a send on this node, or read once for another
        /// node's news: `RemoteEvents`): a pull or socket exactly one row behind needs
        /// no read.
        case inbox(Int64, Message?)
        /// The user's inbox grew to this seq, and the row there is known to be this event,
        /// not a message (a read marker moved on one of the user's devices): as above, a
        /// pull exactly one row behind needs no read.
        case inboxEvent(Int64, Event)
        /// A hot room advanced to this seq; with the message at that seq, as above.
        case room(RoomID, Int64, Message?)
        /// Read counts of the user's messages in the room changed (already rate-limited).
        case receipts(RoomID)
        /// One of the user's devices was revoked: its open sockets and parked pulls end.
        case revoked(DeviceID)
        /// News may have been missed (another node's broadcast was interrupted): query
        /// again as if the inbox and every room had grown.
        case recheck
    }

    public typealias Callback = @Sendable (News) -> Void

    public struct Subscription: Hashable, Sendable {
        public let user: UserID
        let id: UInt64
        let lane: Int
    }

    fileprivate struct Entry {
        var callback: Callback
        var rooms: Set<RoomID>
        /// A live connection (presence: no offline push). False while a subscription only
        /// waits a moment for a re-poll (`setPresent`).
        var present = true
    }

    /// One user's subscribers on a lane. Almost always one (a device's one pull or
    /// socket): held inline, with no table of its own (thousands of idle waiters each
    /// saved one allocation); a table only from the second on.
    fileprivate enum Subscribers {
        case one(UInt64, Entry)
        case many([UInt64: Entry])

        init(_ id: UInt64, _ entry: Entry) { self = .one(id, entry) }

        subscript(id: UInt64) -> Entry? {
            switch self {
            case .one(let i, let e): i == id ? e : nil
            case .many(let all): all[id]
            }
        }

        func forEach(_ body: (Entry) -> Void) {
            switch self {
            case .one(_, let e): body(e)
            case .many(let all): for e in all.values { body(e) }
            }
        }

        var isEmpty: Bool { if case .many(let all) = self { all.isEmpty } else { false } }

        var anyPresent: Bool {
            switch self {
            case .one(_, let e): e.present
            case .many(let all): all.values.contains { $0.present }
            }
        }

        mutating func set(_ id: UInt64, _ entry: Entry) {
            switch self {
            case .one(let i, let e): self = i == id ? .one(id, entry) : .many([i: e, id: entry])
            case .many(var all):   // two or more (an emptied one leaves the table at once)
                self = .many([:])   // `all` uniquely referenced while it changes
                all[id] = entry
                self = .many(all)
            }
        }

        /// Removes `id`'s entry and returns it (nil: not here).
        mutating func remove(_ id: UInt64) -> Entry? {
            switch self {
            case .one(let i, let e):
                guard i == id else { return nil }
                self = .many([:])
                return e
            case .many(var all):
                self = .many([:])
                let e = all.removeValue(forKey: id)
                if all.count == 1, let (i, only) = all.first { self = .one(i, only) } else { self = .many(all) }
                return e
            }
        }
    }

    fileprivate struct Table {
        var byUser: [UserID: Subscribers] = [:]
        var byRoom: [RoomID: [UInt64: UserID]] = [:]
    }

    /// Where subscribers are told: an event loop's subscribers on that loop. A commit's
    /// news costs its publisher (a writer thread, the cluster listener) one task per
    /// lane that has subscribers; each lane finds and wakes its own subscribers on its
    /// own thread, so a thousand woken pulls never hold up the next commit.
    public final class Lane: Sendable {
        let index: Int
        let execute: @Sendable (@escaping @Sendable () -> Void) -> Void
        fileprivate let table = Mutex(Table())
        fileprivate let count = Atomic<Int>(0)

        init(index: Int, execute: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) {
            self.index = index
            self.execute = execute
        }

        fileprivate func deliver(_ news: StoreNews, _ events: Events, recheck: Bool, published: Counter) {
            var calls: [(Callback, News)] = []
            table.withLock { s in
                if recheck {
                    for subs in s.byUser.values { subs.forEach { calls.append(($0.callback, .recheck)) } }
                    return
                }
                for (user, seq) in news.users {
                    guard let subs = s.byUser[user] else { continue }
                    let item: News
                    if let m = events.inbox[user], m.seq == seq {
                        item = .inbox(seq, m.message)
                    } else if let e = events.inboxEvents[user], e.seq == seq {
                        item = .inboxEvent(seq, e.event)
                    } else {
                        item = .inbox(seq, nil)
                    }
                    subs.forEach { calls.append(($0.callback, item)) }
                }
                for (user, devices) in news.revoked {
                    guard let subs = s.byUser[user] else { continue }
                    subs.forEach { e in for d in devices { calls.append((e.callback, .revoked(d))) } }
                }
                for (user, changed) in news.receipts {
                    guard let subs = s.byUser[user] else { continue }
                    subs.forEach { e in for room in changed { calls.append((e.callback, .receipts(room))) } }
                }
                for (room, seq) in news.rooms {
                    guard let subs = s.byRoom[room] else { continue }
                    let m = events.rooms[room].flatMap { $0.seq == seq ? $0 : nil }
                    for (id, user) in subs {
                        if let e = s.byUser[user]?[id] { calls.append((e.callback, .room(room, seq, m))) }
                    }
                }
            }
            published.add(calls.count)
            for (cb, news) in calls { cb(news) }
        }
    }

    /// The messages behind news (this node's sends, or what `RemoteEvents` read for
    /// another node's): per user the message at an inbox seq, per hot room the message
    /// at a room seq. Never broadcast to other nodes (they read their own).
    public struct Events: Sendable {
        public var inbox: [UserID: InboxMessage] = [:]
        /// Per user the non-message event at an inbox seq (this node's read markers).
        public var inboxEvents: [UserID: InboxEvent] = [:]
        public var rooms: [RoomID: Message] = [:]
        public init() {}
    }

    /// The event at one of a user's inbox seqs, when it is not a message.
    public struct InboxEvent: Sendable {
        public let seq: Int64
        public let event: Event
        public init(seq: Int64, event: Event) {
            self.seq = seq
            self.event = event
        }
    }

    /// The message at one of a user's inbox seqs. A send into a group puts the same
    /// message in every member's inbox: it is held once (`Shared`), not copied per member
    /// (a 200-member group's send copied it 200 times on the writer thread).
    public struct InboxMessage: Sendable {
        public let seq: Int64
        let shared: Shared
        public var message: Message { shared.message }

        public init(seq: Int64, shared: Shared) {
            self.seq = seq
            self.shared = shared
        }

        public init(seq: Int64, message: Message) {
            self.init(seq: seq, shared: Shared(message))
        }
    }

    public final class Shared: Sendable {
        public let message: Message
        public init(_ message: Message) { self.message = message }
    }

    /// Lane 0 tells its subscribers on the publisher's thread (tests, subscribers
    /// without a loop); the others are added by `addLane`.
    private let lanes: Mutex<[Lane]>
    private let nextID = Atomic<UInt64>(1)
    private let published = Counter()
    private let publishCalls = Atomic<Int>(0)

    public init() {
        lanes = Mutex([Lane(index: 0) { $0() }])
    }

    /// A lane whose subscribers are told through `execute` (an event loop's `execute`:
    /// their callbacks then run on that loop).
    public func addLane(_ execute: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) -> Lane {
        lanes.withLock { all in
            let lane = Lane(index: all.count, execute: execute)
            all.append(lane)
            return lane
        }
    }

    private func lane(_ index: Int) -> Lane { lanes.withLock { $0[index] } }

    /// Registers `callback` for `user`'s inbox and the hot `rooms` until `unsubscribe`;
    /// it runs on `lane` (nil: on the publisher's thread). Register **before** querying,
    /// so a commit between the query and the registration cannot be missed.
    public func subscribe(_ user: UserID, rooms: Set<RoomID> = [], lane: Lane? = nil,
                          _ callback: @escaping Callback) -> Subscription {
        let lane = lane ?? self.lane(0)
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        lane.table.withLock { s in
            let entry = Entry(callback: callback, rooms: rooms)
            if s.byUser[user] == nil { s.byUser[user] = Subscribers(id, entry) } else { s.byUser[user]!.set(id, entry) }
            for r in rooms { s.byRoom[r, default: [:]][id] = user }
        }
        lane.count.wrappingAdd(1, ordering: .sequentiallyConsistent)
        return Subscription(user: user, id: id, lane: lane.index)
    }

    /// Replaces the hot rooms a subscription listens to (after a join or leave).
    public func setRooms(_ sub: Subscription, _ rooms: Set<RoomID>) {
        lane(sub.lane).table.withLock { s in
            guard var entry = s.byUser[sub.user]?[sub.id], entry.rooms != rooms else { return }
            let old = entry.rooms
            for r in old.subtracting(rooms) {
                s.byRoom[r]?[sub.id] = nil
                if s.byRoom[r]?.isEmpty == true { s.byRoom[r] = nil }
            }
            for r in rooms.subtracting(old) { s.byRoom[r, default: [:]][sub.id] = sub.user }
            entry.rooms = rooms
            s.byUser[sub.user]?.set(sub.id, entry)
        }
    }

    /// Whether `sub` counts as a live connection for presence (`isOnline`, `onlineUsers`):
    /// a pull's subscription kept a moment for its re-poll does not.
    public func setPresent(_ sub: Subscription, _ present: Bool) {
        lane(sub.lane).table.withLock { s in
            guard var entry = s.byUser[sub.user]?[sub.id], entry.present != present else { return }
            entry.present = present
            s.byUser[sub.user]?.set(sub.id, entry)
        }
    }

    public func unsubscribe(_ sub: Subscription) {
        let lane = self.lane(sub.lane)
        let removed = lane.table.withLock { s -> Bool in
            guard let entry = s.byUser[sub.user]?.remove(sub.id) else { return false }
            if s.byUser[sub.user]?.isEmpty == true { s.byUser[sub.user] = nil }
            for r in entry.rooms {
                s.byRoom[r]?[sub.id] = nil
                if s.byRoom[r]?.isEmpty == true { s.byRoom[r] = nil }
            }
            return true
        }
        if removed { lane.count.wrappingAdd(-1, ordering: .sequentiallyConsistent) }
    }

    /// Wakes the subscribers of each user and each hot room: one task per lane with
    /// subscribers, run on that lane (the caller goes on at once).
    public func publish(users: [UserID: Int64], rooms: [RoomID: Int64] = [:], receipts: [UserID: Set<RoomID>] = [:],
                        revoked: [UserID: [DeviceID]] = [:], events: Events = Events()) {
        guard !users.isEmpty || !rooms.isEmpty || !receipts.isEmpty || !revoked.isEmpty else { return }
        let news = StoreNews(users: users, rooms: rooms, receipts: receipts, revoked: revoked)
        dispatch(news, events, recheck: false)
    }

    /// Tells every subscriber to query again (`News.recheck`): after this node may have
    /// missed other nodes' news, so no wake-up is lost.
    public func recheckAll() { dispatch(StoreNews(), Events(), recheck: true) }

    private func dispatch(_ news: StoreNews, _ events: Events, recheck: Bool) {
        // Counted before any lane looks at its subscribers: see `publications`. A lane
        // whose count reads 0 here has no subscriber yet, and one that subscribes later
        // sees the count moved.
        publishCalls.wrappingAdd(1, ordering: .sequentiallyConsistent)
        let published = self.published
        for lane in lanes.withLock({ $0 }) where lane.count.load(ordering: .sequentiallyConsistent) > 0 {
            lane.execute { lane.deliver(news, events, recheck: recheck, published: published) }
        }
    }

    /// Publishes news that came from another node, with the messages behind it where
    /// they were read (`RemoteEvents`).
    public func publish(_ news: StoreNews, events: Events = Events()) {
        publish(users: news.users, rooms: news.rooms, receipts: news.receipts, revoked: news.revoked, events: events)
    }

    /// Of `users` and `rooms` (news, with their seqs), those with a subscriber on this
    /// node, live or not: whom the news would wake; and the users subscribed to any of
    /// those rooms.
    public func subscribed(users: [UserID: Int64], rooms: [RoomID: Int64])
        -> (users: [UserID: Int64], rooms: [RoomID: Int64], inRooms: Set<UserID>) {
        var u: [UserID: Int64] = [:]
        var r: [RoomID: Int64] = [:]
        var inRooms = Set<UserID>()
        for lane in lanes.withLock({ $0 }) where lane.count.load(ordering: .relaxed) > 0 {
            lane.table.withLock { t in
                for (user, seq) in users where t.byUser[user] != nil { u[user] = seq }
                for (room, seq) in rooms {
                    guard let subs = t.byRoom[room] else { continue }
                    r[room] = seq
                    inRooms.formUnion(subs.values)
                }
            }
        }
        return (u, r, inRooms)
    }

    /// The users with at least one subscriber that is a live connection (`setPresent`).
    public func subscribedUsers() -> [UserID] {
        var users = Set<UserID>()
        for lane in lanes.withLock({ $0 }) {
            lane.table.withLock { t in for (u, s) in t.byUser where s.anyPresent { users.insert(u) } }
        }
        return Array(users)
    }

    /// How many times news was published. Lets a waiter skip its first query safely:
    /// read this before the read transaction that found nothing new, subscribe, read it
    /// again. Unchanged means no commit was published in between; a commit the read did
    /// not see publishes after the first reading, so it either changed the count or
    /// finds the new subscription.
    public var publications: Int { publishCalls.load(ordering: .sequentiallyConsistent) }

    public var subscriberCount: Int { lanes.withLock { $0 }.reduce(0) { $0 + $1.count.load(ordering: .relaxed) } }
    public var wakeUps: Int { published.count }
    /// Whether `user` has a subscriber that is a live connection (`setPresent`).
    public func hasSubscribers(_ user: UserID) -> Bool {
        lanes.withLock { $0 }.contains { lane in lane.table.withLock { $0.byUser[user]?.anyPresent == true } }
    }
}
