import SyncEngine
import Testing

/// Who hears what (subscribers on lane 0 are told on the publisher's thread, so every
/// expectation holds right after `publish`): a user's subscriptions hear their inbox,
/// receipts and revocations; a hot room's news reaches only the subscriptions that
/// listed it; a wake-up carries its message only when the message is the one at that
/// very seq. Lanes and the publication count: `NotifierLaneTests`.
@Suite struct NotifierTests {
    let alice = UserID(1), bob = UserID(2)
    let hot = RoomID(10), other = RoomID(11)

    @Test func aUsersSubscriptionsHearTheirInboxAndNobodyElses() {
        let n = Notifier(), heard = Heard()
        _ = n.subscribe(alice, heard.callback("alice phone"))
        _ = n.subscribe(alice, heard.callback("alice laptop"))
        _ = n.subscribe(bob, heard.callback("bob"))
        n.publish(users: [alice: 5])
        #expect(Set(heard.take()) == ["alice phone: inbox 5 -", "alice laptop: inbox 5 -"])
        n.publish(users: [bob: 2, UserID(99): 1])
        #expect(heard.take() == ["bob: inbox 2 -"])
        #expect(n.wakeUps == 3)
    }

    @Test func theMessageRidesAlongOnlyAtItsOwnSeq() {
        let n = Notifier(), heard = Heard()
        _ = n.subscribe(alice, rooms: [hot], heard.callback("alice"))
        var events = Notifier.Events()
        events.inbox[alice] = Notifier.InboxMessage(seq: 5, message: Heard.message(7, seq: 3))
        events.rooms[hot] = Heard.message(8, room: 10, seq: 9)
        n.publish(users: [alice: 5], rooms: [hot: 9], events: events)
        #expect(heard.take().sorted() == ["alice: inbox 5 m7", "alice: room 10 9 m8"])
        // The streams grew past the messages known (a later commit's seq): no message.
        n.publish(users: [alice: 6], rooms: [hot: 10], events: events)
        #expect(heard.take().sorted() == ["alice: inbox 6 -", "alice: room 10 10 -"])
        // News from another node carries none of its own (RemoteEvents reads them).
        n.publish(StoreNews(users: [alice: 7], rooms: [hot: 11]))
        #expect(heard.take().sorted() == ["alice: inbox 7 -", "alice: room 10 11 -"])
    }

    @Test func roomNewsReachesOnlyTheSubscriptionsThatListedTheRoom() {
        let n = Notifier(), heard = Heard()
        _ = n.subscribe(alice, rooms: [hot], heard.callback("alice"))
        _ = n.subscribe(bob, heard.callback("bob"))   // a member too, but not listening to it
        n.publish(users: [:], rooms: [hot: 3, other: 4])
        #expect(heard.take() == ["alice: room 10 3 -"])
    }

    @Test func setRoomsMovesWhatASubscriptionHears() {
        let n = Notifier(), heard = Heard()
        let sub = n.subscribe(alice, rooms: [hot], heard.callback("alice"))
        n.setRooms(sub, [other])
        n.publish(users: [:], rooms: [hot: 1, other: 2])
        #expect(heard.take() == ["alice: room 11 2 -"])
        n.setRooms(sub, [])
        n.publish(users: [alice: 1], rooms: [hot: 3, other: 3])
        #expect(heard.take() == ["alice: inbox 1 -"])
    }

    @Test func receiptsAndRevocationsGoToEverySubscriptionOfTheUser() {
        let n = Notifier(), heard = Heard()
        _ = n.subscribe(alice, heard.callback("a1"))
        _ = n.subscribe(alice, heard.callback("a2"))
        _ = n.subscribe(bob, heard.callback("bob"))
        n.publish(users: [:], receipts: [alice: [hot]], revoked: [alice: [DeviceID(4)]])
        #expect(Set(heard.take()) == ["a1: receipts 10", "a2: receipts 10", "a1: revoked 4", "a2: revoked 4"])
    }

    /// A subscription that is not a live connection (a pull's, kept a moment for its
    /// re-poll) still hears its news but does not make its user online.
    @Test func aSubscriptionNotPresentHearsButDoesNotMakeItsUserOnline() {
        let n = Notifier(), heard = Heard()
        let kept = n.subscribe(alice, heard.callback("kept"))
        n.setPresent(kept, false)
        #expect(n.subscriberCount == 1 && !n.isOnline(alice) && n.onlineUsers().isEmpty)
        n.publish(users: [alice: 1])
        #expect(heard.take() == ["kept: inbox 1 -"])
        let socket = n.subscribe(alice, heard.callback("socket"))
        #expect(n.isOnline(alice) && n.onlineUsers() == [alice])
        n.unsubscribe(socket)
        #expect(!n.isOnline(alice))
        n.setPresent(kept, true)   // adopted by a re-poll
        #expect(n.isOnline(alice) && n.onlineUsers() == [alice])
    }

    @Test func unsubscribedHearsNothingAndIsGoneFromPresence() {
        let n = Notifier(), heard = Heard()
        let phone = n.subscribe(alice, rooms: [hot], heard.callback("phone"))
        let laptop = n.subscribe(alice, heard.callback("laptop"))
        #expect(n.subscriberCount == 2 && n.isOnline(alice) && !n.isOnline(bob))
        n.unsubscribe(phone)
        n.unsubscribe(phone)   // twice: no effect
        n.publish(users: [alice: 1], rooms: [hot: 1])
        #expect(heard.take() == ["laptop: inbox 1 -"])
        #expect(n.subscriberCount == 1 && n.onlineUsers() == [alice])
        n.unsubscribe(laptop)
        #expect(n.subscriberCount == 0 && !n.hasSubscribers(alice) && n.onlineUsers().isEmpty)
        n.publish(users: [alice: 2], rooms: [hot: 2])
        #expect(heard.take().isEmpty)
    }

    /// One subscription per user is held inline, more in a table: going from one to
    /// three and back, each keeps its rooms and hears exactly its own news.
    @Test func subscriptionsComeAndGoInAnyOrderAndKeepTheirRooms() {
        let n = Notifier(), heard = Heard()
        let a = n.subscribe(alice, heard.callback("a"))
        let b = n.subscribe(alice, heard.callback("b"))
        let c = n.subscribe(alice, heard.callback("c"))
        n.setRooms(b, [hot])
        n.unsubscribe(a)
        n.publish(users: [alice: 1], rooms: [hot: 3])
        #expect(Set(heard.take()) == ["b: inbox 1 -", "c: inbox 1 -", "b: room 10 3 -"])
        n.unsubscribe(c)
        n.publish(users: [alice: 2], rooms: [hot: 4])
        #expect(heard.take() == ["b: inbox 2 -", "b: room 10 4 -"])
        let d = n.subscribe(alice, rooms: [other], heard.callback("d"))
        n.unsubscribe(b)
        n.publish(users: [alice: 3], rooms: [hot: 5, other: 1])
        #expect(heard.take() == ["d: inbox 3 -", "d: room 11 1 -"])
        n.unsubscribe(d)
        #expect(n.subscriberCount == 0 && !n.hasSubscribers(alice))
    }

    @Test func recheckReachesEverySubscription() {
        let n = Notifier(), heard = Heard()
        _ = n.subscribe(alice, rooms: [hot], heard.callback("alice"))
        _ = n.subscribe(bob, heard.callback("bob"))
        n.recheckAll()
        #expect(heard.take().sorted() == ["alice: recheck", "bob: recheck"])
    }
}
