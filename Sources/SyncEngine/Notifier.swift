import Synchronization

/// Tells waiting pulls and WebSocket subscribers that a stream grew.
///
/// Two kinds of news, both published by the writer after a commit:
/// - "user U's inbox is now at seq N" (write diffusion), to U's subscribers;
/// - "hot room R is now at seq S" (read diffusion), to the subscribers that listed R:
///   only members with a parked pull or an open socket, never every member.
///
/// The Notifier never carries events, so a lost or coalesced notification never loses
/// data: the woken party queries the database.
public final class Notifier: Sendable {
    public enum News: Sendable {
        case inbox(Int64)
        case room(RoomID, Int64)
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
    }

    private struct Entry {
        var callback: Callback
        var rooms: Set<RoomID>
    }

    private struct State {
        var byUser: [UserID: [UInt64: Entry]] = [:]
        var byRoom: [RoomID: [UInt64: UserID]] = [:]
        var nextID: UInt64 = 1
        var count = 0
    }

    private let state = Mutex(State())
    private let published = Atomic<Int>(0)
    private let publishCalls = Atomic<Int>(0)

    public init() {}

    /// Registers `callback` for `user`'s inbox and the hot `rooms` until `unsubscribe`.
    /// Register **before** querying, so a commit between the query and the
    /// registration cannot be missed.
    public func subscribe(_ user: UserID, rooms: Set<RoomID> = [], _ callback: @escaping Callback) -> Subscription {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.byUser[user, default: [:]][id] = Entry(callback: callback, rooms: rooms)
            for r in rooms { s.byRoom[r, default: [:]][id] = user }
            s.count += 1
            return Subscription(user: user, id: id)
        }
    }

    /// Replaces the hot rooms a subscription listens to (after a join or leave).
    public func setRooms(_ sub: Subscription, _ rooms: Set<RoomID>) {
        state.withLock { s in
            guard let old = s.byUser[sub.user]?[sub.id]?.rooms, old != rooms else { return }
            for r in old.subtracting(rooms) {
                s.byRoom[r]?[sub.id] = nil
                if s.byRoom[r]?.isEmpty == true { s.byRoom[r] = nil }
            }
            for r in rooms.subtracting(old) { s.byRoom[r, default: [:]][sub.id] = sub.user }
            s.byUser[sub.user]?[sub.id]?.rooms = rooms
        }
    }

    public func unsubscribe(_ sub: Subscription) {
        state.withLock { s in
            guard let entry = s.byUser[sub.user]?.removeValue(forKey: sub.id) else { return }
            s.count -= 1
            if s.byUser[sub.user]?.isEmpty == true { s.byUser[sub.user] = nil }
            for r in entry.rooms {
                s.byRoom[r]?[sub.id] = nil
                if s.byRoom[r]?.isEmpty == true { s.byRoom[r] = nil }
            }
        }
    }

    /// Wakes the subscribers of each user and each hot room. Callbacks run outside the lock.
    public func publish(users: [UserID: Int64], rooms: [RoomID: Int64] = [:], receipts: [UserID: Set<RoomID>] = [:],
                        revoked: [UserID: [DeviceID]] = [:]) {
        guard !users.isEmpty || !rooms.isEmpty || !receipts.isEmpty || !revoked.isEmpty else { return }
        // Counted before the subscribers are collected: see `publications`.
        publishCalls.wrappingAdd(1, ordering: .sequentiallyConsistent)
        var calls: [(Callback, News)] = []
        state.withLock { s in
            for (user, seq) in users {
                guard let subs = s.byUser[user] else { continue }
                for e in subs.values { calls.append((e.callback, .inbox(seq))) }
            }
            for (user, devices) in revoked {
                guard let subs = s.byUser[user] else { continue }
                for e in subs.values { for d in devices { calls.append((e.callback, .revoked(d))) } }
            }
            for (user, changed) in receipts {
                guard let subs = s.byUser[user] else { continue }
                for e in subs.values { for room in changed { calls.append((e.callback, .receipts(room))) } }
            }
            for (room, seq) in rooms {
                guard let subs = s.byRoom[room] else { continue }
                for (id, user) in subs {
                    if let e = s.byUser[user]?[id] { calls.append((e.callback, .room(room, seq))) }
                }
            }
        }
        published.wrappingAdd(calls.count, ordering: .relaxed)
        for (cb, news) in calls { cb(news) }
    }

    /// Tells every subscriber to query again (`News.recheck`): after this node may have
    /// missed other nodes' news, so no wake-up is lost.
    public func recheckAll() {
        publishCalls.wrappingAdd(1, ordering: .sequentiallyConsistent)
        let calls = state.withLock { s in s.byUser.values.flatMap { $0.values.map(\.callback) } }
        published.wrappingAdd(calls.count, ordering: .relaxed)
        for cb in calls { cb(.recheck) }
    }

    /// Publishes news that came from another node.
    public func publish(_ news: StoreNews) {
        publish(users: news.users, rooms: news.rooms, receipts: news.receipts, revoked: news.revoked)
    }

    /// The users with at least one subscriber.
    public func subscribedUsers() -> [UserID] { state.withLock { Array($0.byUser.keys) } }

    /// How many times news was published. Lets a waiter skip its first query safely:
    /// read this before the read transaction that found nothing new, subscribe, read it
    /// again. Unchanged means no commit was published in between; a commit the read did
    /// not see publishes after the first reading, so it either changed the count or
    /// finds the new subscription.
    public var publications: Int { publishCalls.load(ordering: .sequentiallyConsistent) }

    public var subscriberCount: Int { state.withLock { $0.count } }
    public var wakeUps: Int { published.load(ordering: .relaxed) }
    public func hasSubscribers(_ user: UserID) -> Bool { state.withLock { $0.byUser[user] != nil } }
}
