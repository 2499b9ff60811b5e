import Synchronization

/// Another node's news names positions only ("user U's inbox is at N", "hot room R is at
/// S"): the broadcast carries no payloads (`pg_notify` is small, and a lost notification
/// must never lose data). A pull parked one row behind that news would read the database
/// for its page, one read per woken pull. Instead the node reads once what the news names,
/// before it publishes: the inbox rows at exactly those positions and their messages, for
/// every user and hot room with a subscriber here, in one snapshot. The news then wakes
/// its pulls and sockets with the message, as news of the node's own sends does
/// (`Notifier.Events`), and a pull exactly one row behind answers without a read.
///
/// Only what a read would show every reader alike goes with the news: a message (not a
/// change row, which depends on the reader's join) without reactions (their `me` is the
/// reader's), and an inbox message only for users the news does not also wake through a
/// hot room (their order is not known here). Anything else, or a read that fails,
/// publishes the positions alone, and the woken pulls read as before. What needs no read (revocations, read counts) is
/// published at once.
///
/// One read at a time, in the order news arrives: news that comes meanwhile is merged
/// (news coalesces: the newest seq per stream wins) and read next, so a later position
/// is never published before an earlier one. A read that has not answered within
/// `deadlineMillis` (a database slow or going away) gives up its news as positions, and news
/// goes out as positions until it answers: wake-ups are never held longer than that.
final class RemoteEvents: Sendable {
    private struct State {
        /// The read under way (its number), if any.
        var reading: UInt64?
        /// Its news, until it is published by the read's answer or by its deadline (nil
        /// with a read under way: the read is overdue, and news goes out at once).
        var news: StoreNews?
        var pending: StoreNews?
        var reads: UInt64 = 0
    }

    /// Reads the messages at `users`' and `rooms`' positions off the caller's thread (the
    /// store's `readAhead` of `events`) and completes with them.
    typealias Read = @Sendable (_ users: [UserID: Int64], _ rooms: [RoomID: Int64],
                                _ completion: @escaping @Sendable (Result<Notifier.Events, SyncError>) -> Void) -> Void
    /// Runs the closure after so many milliseconds, on any thread.
    typealias After = @Sendable (_ millis: Int, @escaping @Sendable () -> Void) -> Void

    /// Messages and body bytes one read brings back at most; news past them goes out as
    /// positions (a backlog of thousands of users' messages must not be held in memory).
    static let maxMessages = 1_000
    static let maxBodyBytes = 4 << 20

    private let notifier: Notifier
    private let read: Read
    private let after: After
    private let deadlineMillis: Int
    private let state = Mutex(State())
    /// News published with at least one message read here (tests count them).
    let enriched = Counter()

    init(notifier: Notifier, deadlineMillis: Int = 250, after: @escaping After, read: @escaping Read) {
        self.notifier = notifier
        self.deadlineMillis = deadlineMillis
        self.after = after
        self.read = read
    }

    func receive(_ news: StoreNews) {
        // Revocations and read counts need no read: at once (a revoked device's parked
        // pull must not wait behind a read to be told).
        if !news.revoked.isEmpty || !news.receipts.isEmpty {
            notifier.publish(StoreNews(receipts: news.receipts, revoked: news.revoked))
        }
        let positions = StoreNews(users: news.users, rooms: news.rooms)
        guard !positions.isEmpty else { return }
        enum Next { case read(UInt64), publish, wait }
        let next = state.withLock { s -> Next in
            if s.reading == nil {
                s.reads += 1
                s.reading = s.reads
                s.news = positions
                return .read(s.reads)
            }
            // A read past its deadline: publish as positions rather than wait behind it.
            if s.news == nil { return .publish }
            if s.pending == nil { s.pending = positions } else { s.pending!.merge(positions) }
            return .wait
        }
        switch next {
        case .read(let id): readThenPublish(positions, id)
        case .publish: notifier.publish(positions)
        case .wait: break
        }
    }

    private func readThenPublish(_ news: StoreNews, _ id: UInt64) {
        let (users, rooms, inRooms) = notifier.subscribed(users: news.users, rooms: news.rooms)
        guard !users.isEmpty || !rooms.isEmpty else { return answered(id, .success(Notifier.Events())) }
        after(deadlineMillis) { [self] in overdue(id) }
        read(users, rooms) { [self] result in
            // A user woken by a hot room and their inbox at once gets no inbox message:
            // which of the two committed first is not known here, and a pull answered
            // from the inbox message would show it before a room message committed
            // earlier (a read gives both in commit order).
            answered(id, result.map { events in
                var events = events
                for user in inRooms { events.inbox[user] = nil }
                return events
            })
        }
    }

    /// The read `id` answered: publishes its news with what it found (unless its
    /// deadline published it already), then reads the news that came meanwhile.
    private func answered(_ id: UInt64, _ result: Result<Notifier.Events, SyncError>) {
        let (news, next) = state.withLock { s -> (StoreNews?, (StoreNews, UInt64)?) in
            guard s.reading == id else { return (nil, nil) }
            let news = s.news
            s.news = nil
            guard let pending = s.pending else {
                s.reading = nil
                return (news, nil)
            }
            s.pending = nil
            s.reads += 1
            s.reading = s.reads
            s.news = pending
            return (news, (pending, s.reads))
        }
        if let news {
            let events = (try? result.get()) ?? Notifier.Events()
            if !events.inbox.isEmpty || !events.rooms.isEmpty { enriched.add(1) }
            notifier.publish(news, events: events)
        }
        if let (pending, nextID) = next { readThenPublish(pending, nextID) }
    }

    /// The read `id` is past its deadline: its news and what waited behind it go out as
    /// positions; until it answers, news does too.
    private func overdue(_ id: UInt64) {
        let late = state.withLock { s -> StoreNews? in
            guard s.reading == id, var news = s.news else { return nil }
            s.news = nil
            if let pending = s.pending { news.merge(pending) }
            s.pending = nil
            return news
        }
        if let late { notifier.publish(late) }
    }

    /// The messages at the news' positions, in two statements whatever their number. A
    /// group's message sits in every member's inbox: each message is read once.
    static func events(_ store: any StoreReader, users: [UserID: Int64], rooms: [RoomID: Int64]) throws -> Notifier.Events {
        var owners: [Stream.MessageKey: [(user: UserID, seq: Int64)]] = [:]
        for (user, row) in try store.inboxKeys(at: users) where row.kind == .message {
            guard let room = row.room, let seq = row.roomSeq else { continue }
            owners[Stream.MessageKey(room: room, seq: seq), default: []].append((user, row.seq))
        }
        var keys = Array(owners.keys)
        for (room, seq) in rooms where owners[Stream.MessageKey(room: room, seq: seq)] == nil {
            keys.append(Stream.MessageKey(room: room, seq: seq))
        }
        var events = Notifier.Events()
        guard !keys.isEmpty else { return events }
        // Any viewer: what depends on one is left out below. Past the bounds the result
        // is cut short, and those positions go out without a message.
        let messages = try store.streamMessages(keys, maxCount: maxMessages, maxBodyBytes: maxBodyBytes,
                                                viewer: users.keys.first ?? UserID(0))
        for (key, m) in zip(keys, messages) {
            // Alike for every reader: no change row, no reactions.
            guard let m, m.change == nil, m.reactions.isEmpty else { continue }
            let shared = Notifier.Shared(m)
            for owner in owners[key] ?? [] { events.inbox[owner.user] = Notifier.InboxMessage(seq: owner.seq, shared: shared) }
            if rooms[key.room] == key.seq { events.rooms[key.room] = m }
        }
        return events
    }
}
