import Synchronization

/// Tells waiting pulls (and, later, WebSocket subscribers) that a user's stream grew.
///
/// The writer publishes after each commit; subscribers are callbacks that hop to their
/// own event loop. The Notifier never carries events, only "user U is now at inbox
/// seq N", so a lost or coalesced notification never loses data: the woken party
/// queries the database.
public final class Notifier: Sendable {
    public typealias Callback = @Sendable (_ inboxSeq: Int64) -> Void

    public struct Subscription: Hashable, Sendable {
        public let user: UserID
        let id: UInt64
    }

    private struct State {
        var subscribers: [UserID: [UInt64: Callback]] = [:]
        var nextID: UInt64 = 1
        var count = 0
    }

    private let state = Mutex(State())
    private let published = Atomic<Int>(0)

    public init() {}

    /// Registers `callback` for `user` until `unsubscribe`. Register **before** querying,
    /// so a commit between the query and the registration cannot be missed.
    public func subscribe(_ user: UserID, _ callback: @escaping Callback) -> Subscription {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.subscribers[user, default: [:]][id] = callback
            s.count += 1
            return Subscription(user: user, id: id)
        }
    }

    public func unsubscribe(_ sub: Subscription) {
        state.withLock { s in
            if s.subscribers[sub.user]?.removeValue(forKey: sub.id) != nil {
                s.count -= 1
                if s.subscribers[sub.user]?.isEmpty == true { s.subscribers[sub.user] = nil }
            }
        }
    }

    /// Wakes every subscriber of each user. Callbacks run outside the lock.
    public func publish(_ updates: [UserID: Int64]) {
        guard !updates.isEmpty else { return }
        var calls: [(Callback, Int64)] = []
        state.withLock { s in
            for (user, seq) in updates {
                guard let subs = s.subscribers[user] else { continue }
                for cb in subs.values { calls.append((cb, seq)) }
            }
        }
        published.wrappingAdd(calls.count, ordering: .relaxed)
        for (cb, seq) in calls { cb(seq) }
    }

    public var subscriberCount: Int { state.withLock { $0.count } }
    public var wakeUps: Int { published.load(ordering: .relaxed) }
    public func hasSubscribers(_ user: UserID) -> Bool { state.withLock { $0.subscribers[user] != nil } }
}
