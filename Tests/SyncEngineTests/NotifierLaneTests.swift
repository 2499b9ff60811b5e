import Synchronization
import SyncEngine
import Testing

/// A lane is where its subscribers are told (an event loop): a publish costs one task
/// per lane that has subscribers, run through that lane's `execute`, and the publisher
/// goes on at once. `publications` counts publishes, so a waiter that read it before a
/// snapshot and again after subscribing knows whether news may have slipped between.
@Suite struct NotifierLaneTests {
    /// An `execute` that only queues: the test runs the tasks when it chooses.
    final class HeldTasks: Sendable {
        private let tasks = Mutex<[@Sendable () -> Void]>([])
        var execute: @Sendable (@escaping @Sendable () -> Void) -> Void { { [self] t in tasks.withLock { $0.append(t) } } }
        var count: Int { tasks.withLock { $0.count } }
        func runAll() { for t in tasks.withLock({ all in defer { all.removeAll() }; return all }) { t() } }
    }

    @Test func subscribersAreToldOnTheirLaneOneTaskPerPublish() {
        let n = Notifier(), heard = Heard()
        let (first, second, idle) = (HeldTasks(), HeldTasks(), HeldTasks())
        let lane1 = n.addLane(first.execute), lane2 = n.addLane(second.execute)
        _ = n.addLane(idle.execute)
        _ = n.subscribe(UserID(1), lane: lane1, heard.callback("u1"))
        _ = n.subscribe(UserID(2), lane: lane1, heard.callback("u2"))
        _ = n.subscribe(UserID(3), lane: lane2, heard.callback("u3"))
        n.publish(users: [UserID(1): 4, UserID(2): 5, UserID(3): 6])
        // Nothing told yet: the publisher only queued one task per lane with subscribers.
        #expect(heard.take().isEmpty)
        #expect((first.count, second.count, idle.count) == (1, 1, 0))
        first.runAll()
        #expect(Set(heard.take()) == ["u1: inbox 4 -", "u2: inbox 5 -"])
        second.runAll()
        #expect(heard.take() == ["u3: inbox 6 -"])
        // News for nobody on a lane still costs that lane a task, which finds no one.
        n.publish(users: [UserID(9): 1])
        #expect((first.count, second.count, idle.count) == (1, 1, 0))
        first.runAll(); second.runAll()
        #expect(heard.take().isEmpty)
    }

    @Test func aLaneHearsOnlyItsOwnSubscribers() {
        let n = Notifier(), heard = Heard()
        let held = HeldTasks()
        let lane = n.addLane(held.execute)
        _ = n.subscribe(UserID(1), heard.callback("lane 0"))
        _ = n.subscribe(UserID(1), rooms: [RoomID(5)], lane: lane, heard.callback("lane 1"))
        n.publish(users: [UserID(1): 2], rooms: [RoomID(5): 3])
        #expect(heard.take() == ["lane 0: inbox 2 -"])   // lane 0: on the publisher's thread
        held.runAll()
        #expect(Set(heard.take()) == ["lane 1: inbox 2 -", "lane 1: room 5 3 -"])
        #expect(n.subscriberCount == 2)
    }

    @Test func publicationsCountEveryPublishWithNews() {
        let n = Notifier()
        let before = n.publications
        n.publish(users: [:])   // no news: not a publication
        #expect(n.publications == before)
        n.publish(users: [UserID(1): 1])   // with nobody subscribed: still counted
        n.publish(users: [:], receipts: [UserID(1): [RoomID(1)]])
        n.recheckAll()
        #expect(n.publications == before + 3)
    }

    /// The waiter's protocol: read the count, (query), subscribe, read it again.
    @Test func aPublishBetweenTheReadingsMovesTheCount() {
        let n = Notifier(), heard = Heard()
        let quiet = n.publications
        let sub = n.subscribe(UserID(1), heard.callback("waiter"))
        #expect(n.publications == quiet)   // nothing slipped in: the query's answer stands
        n.unsubscribe(sub)

        let read = n.publications
        n.publish(users: [UserID(1): 8])   // a commit between the query and the subscription
        _ = n.subscribe(UserID(1), heard.callback("waiter"))
        #expect(n.publications != read)   // the waiter queries again
        #expect(heard.take().isEmpty)     // (it was not subscribed when that news went out)
    }
}
