import Synchronization
@testable import SyncEngine
import Testing

/// `RemoteEvents` with its reads and its clock held by the test: one read at a time, of
/// exactly the positions with a listener here; news that arrives meanwhile merged and read
/// next; every piece of news published once and never a later position before an earlier
/// one; revocations and read counts at once; a read past its deadline gives its news up
/// as positions, and news goes out as positions until it answers.
@Suite struct RemoteEventsOrderTests {
    let alice = UserID(1), bob = UserID(2), carol = UserID(3)

    /// The reads asked for (their positions), each completed when the test says; and
    /// the deadlines set, each fired when the test says.
    final class Held: Sendable {
        private let reads = Mutex<[(users: [UserID: Int64], completion: @Sendable (Result<Notifier.Events, SyncError>) -> Void)]>([])
        private let timers = Mutex<[@Sendable () -> Void]>([])
        var asked: [[UserID: Int64]] { reads.withLock { $0.map(\.users) } }
        var open: Int { reads.withLock { $0.count } }

        var read: RemoteEvents.Read { { [self] users, _, completion in reads.withLock { $0.append((users, completion)) } } }
        var after: RemoteEvents.After { { [self] _, body in timers.withLock { $0.append(body) } } }

        /// Completes the oldest read still held.
        func complete(_ result: Result<Notifier.Events, SyncError>) {
            let next = reads.withLock { $0.removeFirst() }
            next.completion(result)
        }

        /// Fires the deadline set with the `n`-th read (0: the first).
        func fireDeadline(_ n: Int) { timers.withLock { $0[n] }() }
    }

    static func events(_ user: UserID, _ seq: Int64, _ id: Int64) -> Notifier.Events {
        var e = Notifier.Events()
        e.inbox[user] = Notifier.InboxMessage(seq: seq, message: Heard.message(id, seq: seq))
        return e
    }

    @Test func newsMeanwhileIsMergedReadNextAndPublishedInOrder() {
        let n = Notifier(), heard = Heard(), held = Held()
        _ = n.subscribe(alice, heard.callback("alice"))
        _ = n.subscribe(bob, heard.callback("bob"))
        let remote = RemoteEvents(notifier: n, after: held.after, read: held.read)

        remote.receive(StoreNews(users: [alice: 5, carol: 9]))
        #expect(held.asked == [[alice: 5]], "carol has no listener here: not read")
        remote.receive(StoreNews(users: [alice: 6, bob: 3]))
        remote.receive(StoreNews(users: [alice: 7]))
        #expect(held.open == 1, "a second read began before the first answered")
        #expect(heard.take().isEmpty, "news went out before its read")

        held.complete(.success(Self.events(alice, 5, 50)))
        #expect(heard.take() == ["alice: inbox 5 m50"])
        // The two that came meanwhile, merged into one read.
        #expect(held.asked == [[alice: 7, bob: 3]])
        var merged = Self.events(alice, 7, 70)
        merged.inbox[bob] = Notifier.InboxMessage(seq: 3, message: Heard.message(30, seq: 3))
        held.complete(.success(merged))
        #expect(heard.take().sorted() == ["alice: inbox 7 m70", "bob: inbox 3 m30"])
        #expect(held.open == 0)
        #expect(remote.enriched.count == 2)

        // A read that fails: the positions alone.
        remote.receive(StoreNews(users: [alice: 8]))
        held.complete(.failure(.storageUnavailable))
        #expect(heard.take() == ["alice: inbox 8 -"])
        #expect(remote.enriched.count == 2)
    }

    /// Woken by a hot room and the inbox at once, a user gets the room's message and not
    /// the inbox's: which committed first is not known here (a read gives commit order).
    @Test func aUserWokenByAHotRoomTooGetsNoInboxMessage() {
        let n = Notifier(), heard = Heard(), held = Held()
        let hot = RoomID(7)
        _ = n.subscribe(alice, rooms: [hot], heard.callback("alice"))
        _ = n.subscribe(bob, heard.callback("bob"))
        let remote = RemoteEvents(notifier: n, after: held.after, read: held.read)
        remote.receive(StoreNews(users: [alice: 5, bob: 3], rooms: [hot: 9]))
        var found = Self.events(alice, 5, 50)
        found.inbox[bob] = Notifier.InboxMessage(seq: 3, message: Heard.message(30, seq: 3))
        found.rooms[hot] = Heard.message(90, room: 7, seq: 9)
        held.complete(.success(found))
        #expect(heard.take().sorted() == ["alice: inbox 5 -", "alice: room 7 9 m90", "bob: inbox 3 m30"])
    }

    @Test func revocationsAndReadCountsDoNotWaitForARead() {
        let n = Notifier(), heard = Heard(), held = Held()
        _ = n.subscribe(alice, heard.callback("alice"))
        let remote = RemoteEvents(notifier: n, after: held.after, read: held.read)
        remote.receive(StoreNews(users: [alice: 5]))
        remote.receive(StoreNews(users: [alice: 6], receipts: [alice: [RoomID(3)]], revoked: [alice: [DeviceID(9)]]))
        #expect(heard.take().sorted() == ["alice: receipts 3", "alice: revoked 9"])
        // News for nobody here needs no read.
        held.complete(.success(Self.events(alice, 5, 50)))
        held.complete(.success(Notifier.Events()))
        _ = heard.take()
        remote.receive(StoreNews(users: [carol: 4]))
        #expect(held.open == 0)
    }

    @Test func aReadPastItsDeadlineGivesItsNewsUpAsPositions() {
        let n = Notifier(), heard = Heard(), held = Held()
        _ = n.subscribe(alice, heard.callback("alice"))
        let remote = RemoteEvents(notifier: n, after: held.after, read: held.read)
        remote.receive(StoreNews(users: [alice: 5]))
        remote.receive(StoreNews(users: [alice: 6]))
        #expect(heard.take().isEmpty)
        held.fireDeadline(0)
        #expect(heard.take() == ["alice: inbox 6 -"], "the overdue read's news and what waited behind it")
        // Until it answers, news goes out at once, as positions, with no second read.
        remote.receive(StoreNews(users: [alice: 7]))
        #expect(heard.take() == ["alice: inbox 7 -"])
        #expect(held.open == 1)
        // Its late answer publishes nothing more; then reads begin again.
        held.complete(.success(Self.events(alice, 5, 50)))
        #expect(heard.take().isEmpty)
        remote.receive(StoreNews(users: [alice: 8]))
        #expect(held.asked == [[alice: 8]])
        held.complete(.success(Self.events(alice, 8, 80)))
        #expect(heard.take() == ["alice: inbox 8 m80"])
        // A deadline that fires after its read answered changes nothing.
        held.fireDeadline(1)
        #expect(heard.take().isEmpty)
    }
}
