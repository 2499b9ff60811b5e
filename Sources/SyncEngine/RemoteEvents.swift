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
/// reader's). Anything else, or a read that fails, publishes the positions alone, and
/// the woken pulls read as before.
///
/// One read at a time, in the order news arrives: news that comes meanwhile is merged
/// (news coalesces: the newest seq per stream wins) and read next, so a later position
/// is never published before an earlier one.
final class RemoteEvents: Sendable {
    private struct State {
        var reading = false
        var pending: StoreNews?
    }

    typealias Read = @Sendable (@escaping @Sendable (any StoreReader) throws -> Notifier.Events,
                                @escaping @Sendable (Result<Notifier.Events, SyncError>) -> Void) -> Void

    private let notifier: Notifier
    /// Runs a read off the caller's thread (the store's `read`) and completes it.
    private let read: Read
    private let state = Mutex(State())
    /// News published with at least one message read here (tests count them).
    let enriched = Counter()

    init(notifier: Notifier, read: @escaping Read) {
        self.notifier = notifier
        self.read = read
    }

    func receive(_ news: StoreNews) {
        let start = state.withLock { s -> Bool in
            guard !s.reading else {
                if s.pending == nil { s.pending = news } else { s.pending!.merge(news) }
                return false
            }
            s.reading = true
            return true
        }
        if start { readThenPublish(news) }
    }

    private func readThenPublish(_ news: StoreNews) {
        let (users, rooms) = notifier.subscribed(users: news.users, rooms: news.rooms)
        guard !users.isEmpty || !rooms.isEmpty else { return published(news, Notifier.Events()) }
        read({ try Self.events($0, users: users, rooms: rooms) }) { [self] result in
            published(news, (try? result.get()) ?? Notifier.Events())
        }
    }

    /// Publishes `news`, then reads the news that came meanwhile, if any.
    private func published(_ news: StoreNews, _ events: Notifier.Events) {
        if !events.inbox.isEmpty || !events.rooms.isEmpty { enriched.add(1) }
        notifier.publish(news, events: events)
        let next = state.withLock { s -> StoreNews? in
            guard let n = s.pending else {
                s.reading = false
                return nil
            }
            s.pending = nil
            return n
        }
        if let next { readThenPublish(next) }
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
        // Any viewer: what depends on one is left out below.
        let messages = try store.streamMessages(keys, maxCount: Int.max, maxBodyBytes: Int.max,
                                                viewer: users.keys.first ?? UserID(0))
        for (key, m) in zip(keys, messages) {
            // Alike for every reader: no change row, no reactions.
            guard let m, m.change == nil, m.reactions.isEmpty else { continue }
            for owner in owners[key] ?? [] { events.inbox[owner.user] = (seq: owner.seq, message: m) }
            if rooms[key.room] == key.seq { events.rooms[key.room] = m }
        }
        return events
    }
}
