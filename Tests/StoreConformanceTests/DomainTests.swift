import Dispatch
import JSON
import SyncEngine
import Testing

/// The domain driven through `SyncEngine` over a factory's store, without HTTP: what
/// the end-to-end tests check over sockets, here against every backend.
@Suite(.timeLimit(.minutes(3)))
struct DomainTests {
    /// Users, devices, a group and a direct room; sends; a pull followed page by page
    /// until `hasMore` is false returns every event exactly once, in order, and the
    /// final cursor is the head.
    @Test(arguments: allStoreFactories)
    func sendAndPullExactlyOnceInOrder(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let bobLaptop = try h.device("bob", "laptop")
            let group = try h.group(alice, "trio", [bob, carol])
            let dm = try h.direct(bob, alice)
            #expect(try h.direct(alice, bob) == dm, "a direct room is found again, not created twice")
            for i in 0..<20 {
                let (sender, room) = [(alice, group), (bob, dm), (carol, group), (alice, dm)][i % 4]
                let r = try h.send(sender, room, "m\(i)", "{\"n\":\(i)}").get()
                #expect(!r.duplicate)
            }
            #expect(try h.read { try $0.store.room(group)?.lastSeq } == 10)
            #expect(try h.read { try $0.store.room(dm)?.lastSeq } == 10)

            for device in [bob, bobLaptop] {
                let (events, cursor, pages) = try h.pullAll(bob.id, from: Cursor(user: bob.id, inboxSeq: 0), limit: 6)
                #expect(pages >= 4)
                expectExactlyOnceInOrder(events, expected: [group: Array(1...10), dm: Array(1...10)])
                // Both room creations arrive as member events, before any message of the room.
                let members = events.filter { $0.kind == .member }
                #expect(members.count == 2)
                for room in [group, dm] {
                    let created = try #require(events.firstIndex { $0.kind == .member && $0.room == room })
                    let firstMessage = try #require(events.firstIndex { $0.message?.room == room })
                    #expect(created < firstMessage)
                }
                // Bodies come back as sent.
                #expect(events.compactMap(\.message).allSatisfy { m in m.body.hasPrefix("{\"n\":") })
                // The final cursor is the head of bob's stream; acking it moves the device's ack.
                let head = try h.read { try Stream.head($0.store, user: bob.id) }
                #expect(cursor == head)
                let text = cursor.encoded
                let device = device.principal.device
                #expect(try h.write { try Stream.ack($0, device: device, user: bob.id, cursor: text) }.get())
                #expect(try h.write { try Stream.ack($0, device: device, user: bob.id, cursor: text) }.get() == false)
                #expect(try h.read { try $0.store.storedAck(device: device)?.cursor } == text)
            }
            // A pull through the session API (as GET /v1/sync): the acked cursor is the start.
            guard case .started(let start)? = try h.engine.startPull(h.reader, token: bob.token, cursor: nil, mayWait: false) else {
                Issue.record("startPull did not start")
                return
            }
            #expect(try h.engine.pull(h.reader, start, limit: 10, perRoomLimit: nil).events.isEmpty)
            _ = try h.send(carol, group, "late").get()
            let page = try h.engine.pull(h.reader, start, limit: 10, perRoomLimit: nil)
            #expect(page.events.compactMap(\.message).map(\.clientMsgID) == ["late"])
            #expect(!page.hasMore)
            // An unknown token starts nothing; a device never acked needs a cursor.
            #expect(try h.engine.startPull(h.reader, token: "nope", cursor: nil, mayWait: false) == nil)
            #expect(throws: SyncError.cursorRequired) {
                _ = try h.engine.startPull(h.reader, token: carol.token, cursor: nil, mayWait: false)
            }
            // History pages back through the room.
            let history = try h.read { try Messages.history($0, me: carol.id, room: group, before: nil, limit: 4) }
            #expect(history.messages.map(\.seq) == [8, 9, 10, 11])
            #expect(history.nextBefore == 8)
        }
    }

    /// Read markers only move forward, unread is last seq - read seq per room, the
    /// conversation list agrees, the reader's other devices get a `read` event, and
    /// the sender's own messages are read.
    @Test(arguments: allStoreFactories)
    func readMarkersAndUnread(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let group = try h.group(alice, "trio", [bob, carol])
            let dm = try h.direct(alice, bob)
            for i in 1...4 { _ = try h.send(alice, group, "g\(i)").get() }
            for i in 1...3 { _ = try h.send(alice, dm, "d\(i)").get() }

            func unread(_ u: TestUser) throws -> (total: Int64, rooms: [RoomID: Int64]) {
                let (total, rooms) = try h.read { try Conversations.unread($0, me: u.id) }
                return (total, Dictionary(uniqueKeysWithValues: rooms))
            }
            #expect(try unread(bob).total == 7)
            #expect(try unread(bob).rooms == [group: 4, dm: 3])
            #expect(try unread(carol).rooms == [group: 4])
            #expect(try unread(alice).total == 0, "the sender has read their own messages")

            let bobHead = try #require(try h.read { try $0.store.inboxHead(user: bob.id) })
            #expect(try h.write { try Conversations.markRead($0, me: bob.principal, room: group, seq: 2) }.get() == 2)
            #expect(try h.write { try Conversations.markRead($0, me: bob.principal, room: group, seq: 1) }.get() == 2,
                    "a read marker never moves back")
            #expect(h.write { try Conversations.markRead($0, me: bob.principal, room: group, seq: 9) }.map { _ in 0 }
                    == .failure(.seqOutOfRange(lastSeq: 4)))
            #expect(h.write { try Conversations.markRead($0, me: bob.principal, room: RoomID(424_242), seq: 1) }.map { _ in 0 }
                    == .failure(.roomNotFound))
            #expect(try unread(bob).rooms == [group: 2, dm: 3])
            #expect(try unread(carol).rooms == [group: 4], "another member's marker is their own")

            // The conversation list carries the same counts.
            let page = try h.read { try Conversations.list($0, me: bob.id, limit: 10, preview: 2, page: nil) }
            let listed = Dictionary(uniqueKeysWithValues: page.conversations.map { ($0.room.id, $0.unread) })
            #expect(listed == [group: 2, dm: 3])
            #expect(page.conversations.first { $0.room.id == group }?.preview.map(\.seq) == [3, 4])

            // Bob's devices learn of the read: one `read` event with read_seq 2.
            let (events, _, _) = try h.pullAll(bob.id, from: Cursor(user: bob.id, inboxSeq: bobHead))
            #expect(events.map(\.kind) == [.read])
            #expect(events.first?.room == group)
            #expect(events.first?.payload?["read_seq"]?.int64Value == 2)

            // Receipts count from the markers: seq 2 of the group was read by bob.
            let receipt = try h.read { try Receipts.count($0, me: alice.id, room: group, seq: 2) }
            #expect(receipt.readCount == 1)
            #expect(receipt.readers == ["bob"])

            // Sending reads what came before it.
            _ = try h.send(bob, group, "reply").get()
            #expect(try unread(bob).rooms == [dm: 3])
            #expect(try unread(alice).rooms == [group: 1])
        }
    }

    /// A hot room (small `hotThreshold`) is merged into the pull with the normal rooms:
    /// every message exactly once, per-room order, nothing of it in the inboxes, and the
    /// cursor carries the room's position. A member added later starts at their join.
    @Test(arguments: allStoreFactories)
    func aHotRoomIsMergedIntoThePull(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        try Harness.with(factory, config: config) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let dave = try h.user("dave")
            let hot = try h.group(alice, "big", [bob, carol])
            let dm = try h.direct(alice, bob)
            #expect(try h.read { try $0.store.room(hot)?.hot } == true)
            #expect(try h.read { try $0.store.room(dm)?.hot } == false)
            for i in 0..<15 {
                let (sender, room) = [(alice, hot), (bob, dm), (carol, hot)][i % 3]
                _ = try h.send(sender, room, "m\(i)").get()
            }
            let bobStart = Cursor(user: bob.id, inboxSeq: 0)
            let (events, cursor, _) = try h.pullAll(bob.id, from: bobStart, limit: 4)
            expectExactlyOnceInOrder(events, expected: [hot: Array(1...10), dm: Array(1...5)])
            #expect(cursor.hot[hot] == 10)
            // Read diffusion: the hot room's messages are not in bob's inbox.
            let keys = try h.read { try $0.store.inboxKeys(user: bob.id, after: 0, limit: 1000) }
            #expect(!keys.contains { $0.kind == .message && $0.room == hot })

            // A pull that parks listens to every hot room the user is in, also one its
            // cursor does not name (an inbox-only cursor), and to the ones it names.
            let inboxOnly = Cursor(user: bob.id, inboxSeq: cursor.inboxSeq).encoded
            for text in [inboxOnly, cursor.encoded] {
                guard case .started(let start)? = try h.engine.startPull(h.reader, token: bob.token, cursor: text, mayWait: true) else {
                    Issue.record("startPull did not start")
                    return
                }
                #expect(start.hotRooms == [hot])
            }

            // Dave joins after ten messages: he gets the join and what follows only.
            _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: hot, names: ["dave"]) }.get()
            _ = try h.send(carol, hot, "after-join").get()
            let (daveEvents, _, _) = try h.pullAll(dave.id, from: Cursor(user: dave.id, inboxSeq: 0))
            expectExactlyOnceInOrder(daveEvents, expected: [hot: [11]])
            #expect(daveEvents.contains { $0.kind == .member && $0.room == hot })

            // Bob continues from his cursor: only the new message.
            let (more, next, _) = try h.pullAll(bob.id, from: cursor)
            expectExactlyOnceInOrder(more, expected: [hot: [11]])
            #expect(next.hot[hot] == 11)
            // Unread works for hot rooms too.
            let unread = try h.read { try Conversations.unread($0, me: bob.id) }
            #expect(unread.total == 11, "bob sent every dm message, so only the hot room's are unread")
        }
    }

    /// A member removed and added back, in a normal and in a hot room: the recalls of the
    /// messages of their first stay (made during it, or after their return) reach them;
    /// an edit of a message sent while they were away does not (its text is not theirs).
    /// Before `past_stays`, a change row showed its message only above the current join.
    @Test(arguments: allStoreFactories)
    func changesOfAnEarlierStaysMessagesReachAMemberAddedBack(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        try Harness.with(factory, config: config) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let x = try h.user("x")
            for hot in [false, true] {
                let room = hot ? try h.group(alice, "hot", [bob, x]) : try h.group(alice, "normal", [x])
                #expect(try h.read { try $0.store.room(room)?.hot } == hot)
                let m1 = try h.send(alice, room, "one-\(hot)").get().message.seq
                let m2 = try h.send(alice, room, "two-\(hot)").get().message.seq
                let start = try h.pullAll(x.id, from: Cursor(user: x.id, inboxSeq: 0)).cursor
                _ = try h.write { try MessageChanges.recall($0, me: alice.principal, room: room, seq: m1) }.get()
                try h.write { try Rooms.removeMember($0, me: alice.principal, room: room, name: "x") }.get()
                let away = try h.send(alice, room, "away-\(hot)").get().message.seq
                _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: room, names: ["x"]) }.get()
                _ = try h.write { try MessageChanges.recall($0, me: alice.principal, room: room, seq: m2) }.get()
                _ = try h.write { try MessageChanges.edit($0, me: alice.principal, room: room, seq: away, body: "\"edited\"",
                                                          maxBodyBytes: 1000) }.get()
                let events = try h.pullAll(x.id, from: start).events.filter { $0.room == room }
                let changes = events.filter { $0.kind != .message && $0.kind != .member }
                #expect(changes.map { "\($0.kind.rawValue):\($0.message?.seq ?? -1)" } == ["delete:\(m1)", "delete:\(m2)"], "hot \(hot)")
                #expect(!events.contains { $0.message?.seq == away }, "hot \(hot): a message from the time away showed")
            }
        }
    }

    /// A member who left a hot room, its device still pulling the stay: a reaction (or
    /// any change) to a message from before their join, made during the stay, shows them
    /// nothing of that message. (Before, a viewer with no member row saw every change
    /// row's message: the text of a message from before their join came with the pull.)
    @Test(arguments: allStoreFactories)
    func aDepartedMemberSeesNoChangeOfAMessageFromBeforeTheirJoin(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        try Harness.with(factory, config: config) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let x = try h.user("x")
            let hot = try h.group(alice, "hot", [bob, carol])
            let old = try h.send(alice, hot, "before-x").get().message.seq
            _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: hot, names: ["x"]) }.get()
            let start = try h.read { try Stream.head($0.store, user: x.id) }
            let during = try h.send(alice, hot, "while-x").get().message.seq
            _ = try h.write { try MessageChanges.edit($0, me: alice.principal, room: hot, seq: old, body: "\"edited old\"",
                                                      maxBodyBytes: 1000) }.get()
            try h.write { try Rooms.removeMember($0, me: alice.principal, room: hot, name: "x") }.get()
            let events = try h.pullAll(x.id, from: start).events.filter { $0.room == hot }
            #expect(events.contains { $0.kind == .message && $0.message?.seq == during })
            #expect(!events.contains { $0.message?.seq == old }, "a message from before the join showed: \(events.map(\.kind))")
        }
    }

    /// A device behind in a hot room gets every stay's messages exactly once, in commit
    /// order with the joins and leaves: across a leave and a rejoin (its cursor naming the
    /// room) and from a cursor older than the first join; never what was sent while the
    /// user was not a member; and a cursor made after a leave gets nothing of the stays
    /// before it. (Before departures were kept per stay, a rejoin dropped the stay before
    /// it, and a cursor that did not name the room got no departed stay at all.)
    @Test(arguments: allStoreFactories)
    func aLaggingDeviceGetsEveryStayInAHotRoom(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        try Harness.with(factory, config: config) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let x = try h.user("x")
            let hot = try h.group(alice, "big", [bob, carol])
            #expect(try h.read { try $0.store.room(hot)?.hot } == true)
            let beforeJoin = Cursor(user: x.id, inboxSeq: 0)
            func add() throws { _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: hot, names: ["x"]) }.get() }
            func leave() throws { try h.write { try Rooms.removeMember($0, me: x.principal, room: hot, name: "x") }.get() }
            func story(_ events: [Event]) -> [String] {
                events.filter { $0.room == hot }.map { e in
                    e.kind == .member ? e.payload?["action"]?.stringValue ?? "member" : "m\(e.message?.seq ?? -1)"
                }
            }
            _ = try h.send(alice, hot, "m1").get()        // before x joins
            try add()
            let lagging = try h.pullAll(x.id, from: beforeJoin).cursor
            #expect(lagging.hot[hot] == 1)
            _ = try h.send(alice, hot, "m2").get()
            _ = try h.send(bob, hot, "m3").get()
            try leave()
            _ = try h.send(alice, hot, "m4").get()        // x not a member
            try add()
            _ = try h.send(carol, hot, "m5").get()
            try leave()
            let afterLeave = try h.read { try Stream.head($0.store, user: x.id) }
            _ = try h.send(alice, hot, "m6").get()        // x not a member
            try add()
            _ = try h.send(bob, hot, "m7").get()
            // A longer absence than a page: its 20 messages are read past, never delivered.
            try leave()
            for i in 8...27 { _ = try h.send(alice, hot, "m\(i)").get() }
            try add()
            _ = try h.send(carol, hot, "m28").get()

            for limit in [1, 2, 7] {
                let fromLagging = try h.pullAll(x.id, from: lagging, limit: limit)
                // The 20 seqs of the absence are never read past page by page.
                #expect(fromLagging.pages <= (fromLagging.events.count + limit - 1) / limit + 1, "limit \(limit)")
                #expect(story(fromLagging.events) == ["m2", "m3", "left", "added", "m5", "left", "added", "m7", "left", "added", "m28"],
                        "limit \(limit)")
                #expect(fromLagging.cursor.hot[hot] == 28)
                let fromBeforeJoin = try h.pullAll(x.id, from: beforeJoin, limit: limit)
                #expect(story(fromBeforeJoin.events) == ["added", "m2", "m3", "left", "added", "m5", "left", "added", "m7",
                                                                   "left", "added", "m28"], "limit \(limit)")
                #expect(story(try h.pullAll(x.id, from: afterLeave, limit: limit).events) == ["added", "m7", "left", "added", "m28"],
                        "limit \(limit)")
            }
            // Caught up, the cursor pulls nothing more.
            let caughtUp = try h.pullAll(x.id, from: lagging).cursor
            #expect(try h.pullAll(x.id, from: caughtUp).events.isEmpty)

            // A catch-up's per-room limit counts the stays' seqs only: the newest five
            // seqs x was there for, never one sent while x was out.
            let catchUp = try h.read { ctx in
                try Stream.pull(ctx, user: x.id, after: try Stream.validate(ctx.store, cursor: lagging.encoded, user: x.id),
                                limit: 100, perRoomLimit: 5)
            }
            #expect(catchUp.events.compactMap { $0.room == hot ? $0.message?.seq : nil } == [2, 3, 5, 7, 28])

            // A last stay with nothing in it: once the leaves are delivered the room
            // leaves the cursor (nothing is owed by it).
            try leave()
            _ = try h.send(alice, hot, "m29").get()
            try add()
            try leave()
            let emptyLast = try h.pullAll(x.id, from: caughtUp)
            #expect(story(emptyLast.events) == ["left", "added", "left"])
            #expect(emptyLast.cursor.hot[hot] == nil)
            #expect(try h.pullAll(x.id, from: emptyLast.cursor).events.isEmpty)

            // Out for good: a page that ends on the stay's last message, before the leave,
            // keeps the room in the cursor until the leave is delivered too (without the
            // room, the next page would take the stay for one it had not seen).
            let y = try h.user("y")
            let yBefore = Cursor(user: y.id, inboxSeq: 0)
            _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: hot, names: ["y"]) }.get()
            let yNamed = try h.pullAll(y.id, from: yBefore).cursor
            _ = try h.send(alice, hot, "m30").get()
            _ = try h.send(bob, hot, "m31").get()
            try h.write { try Rooms.removeMember($0, me: y.principal, room: hot, name: "y") }.get()
            for limit in [1, 2, 7] {
                let named = try h.pullAll(y.id, from: yNamed, limit: limit)
                #expect(story(named.events) == ["m30", "m31", "left"], "limit \(limit)")
                #expect(named.cursor.hot[hot] == nil)
                let unnamed = try h.pullAll(y.id, from: yBefore, limit: limit)
                #expect(story(unnamed.events) == ["added", "m30", "m31", "left"], "limit \(limit)")
                #expect(unnamed.cursor.hot[hot] == nil)
                #expect(try h.pullAll(y.id, from: unnamed.cursor).events.isEmpty)
            }
        }
    }

    /// Offline retention takes a user's hot-room departures with the inbox rows of their
    /// leaves: a cursor that was owed such a stay is expired now, so nothing reads them.
    @Test(arguments: allStoreFactories)
    func pruningTheInboxPastALeaveForgetsTheStay(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        try Harness.with(factory, config: config) { h in
            let alice = try h.user("alice"), bob = try h.user("bob"), carol = try h.user("carol")
            let hot = try h.group(alice, "big", [bob, carol])
            let other = try h.group(alice, "other", [bob, carol])
            _ = try h.send(alice, hot, "m1").get()
            _ = try h.send(alice, other, "o1").get()
            func leave(_ room: RoomID) throws -> Int64 {
                try h.write { try Rooms.removeMember($0, me: bob.principal, room: room, name: "bob") }.get()
                return try #require(try h.read { try $0.store.inboxHead(user: bob.id) })
            }
            let firstLeave = try leave(hot)
            _ = try leave(other)
            func departed() throws -> [RoomID] {
                try h.read { try $0.store.hotMemberships(user: bob.id, departuresAfter: 0) }.filter(\.departed).map(\.room)
            }
            #expect(Set(try departed()) == [hot, other])
            _ = try h.write { try $0.store.pruneInbox(user: bob.id, through: firstLeave) }.get()
            #expect(try departed() == [other])
        }
    }

    /// Read counts come from read markers, and a member who joined after a message (whose
    /// marker starts at the join point) never read it.
    @Test(arguments: allStoreFactories)
    func aMemberWhoJoinedLaterIsNoReaderOfWhatCameBefore(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice"), bob = try h.user("bob"), carol = try h.user("carol")
            let room = try h.group(alice, "trio", [bob])
            _ = try h.send(alice, room, "m1").get()
            _ = try h.write { try Conversations.markRead($0, me: bob.principal, room: room, seq: 1) }.get()
            _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: room, names: ["carol"]) }.get()
            #expect(try h.read { try $0.store.readCount(room: room, seq: 1, excluding: alice.id) } == 1)
            #expect(try h.read { try $0.store.readerNames(room: room, seq: 1, excluding: alice.id) } == ["bob"])
            _ = try h.send(alice, room, "m2").get()
            _ = try h.write { try Conversations.markRead($0, me: carol.principal, room: room, seq: 2) }.get()
            #expect(try h.read { try $0.store.readerNames(room: room, seq: 2, excluding: alice.id) } == ["carol"])
        }
    }

    /// The revocation sweep's read: devices revoked at or after a time, with their users
    /// and when; never an active device.
    @Test(arguments: allStoreFactories)
    func revokedDevicesAreReadByWhen(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let phone = try h.user("alice")
            let laptop = try h.device("alice", "laptop")
            #expect(try h.read { try $0.store.revokedDevices(since: 0) }.isEmpty)
            try h.write { try Accounts.revokeDevice($0, id: phone.principal.device) }.get()
            let rows = try h.read { try $0.store.revokedDevices(since: 0) }
            #expect(rows.map(\.device) == [phone.principal.device])
            #expect(rows.map(\.user) == [phone.id])
            let at = try #require(rows.first?.at)
            #expect(try h.read { try $0.store.revokedDevices(since: at) }.count == 1)
            #expect(try h.read { try $0.store.revokedDevices(since: at + 1) }.isEmpty)
            #expect(try h.read { try $0.store.deviceActive(laptop.principal.device) })
        }
    }

    /// Resending with the same client_msg_id returns the original (any device of the
    /// sender), a different body or room is a conflict, and no seq is taken.
    @Test(arguments: allStoreFactories)
    func anIdempotentResendReturnsTheOriginal(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let aliceLaptop = try h.device("alice", "laptop")
            let bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            let other = try h.group(alice, "other", [bob])
            let first = try h.send(alice, room, "k", "\"hello\"").get()
            #expect(!first.duplicate)
            let again = try h.send(aliceLaptop, room, "k", "\"hello\"").get()
            #expect(again.duplicate)
            #expect(again.message == first.message)
            #expect(h.send(alice, room, "k", "\"changed\"").map { _ in 0 } == .failure(.idempotencyConflict))
            #expect(h.send(alice, other, "k", "\"hello\"").map { _ in 0 } == .failure(.idempotencyConflict))
            // Another sender may use the same key.
            #expect(try h.send(bob, room, "k", "\"hello\"").get().message.seq == 2)
            #expect(try h.read { try $0.store.room(room)?.lastSeq } == 2)
            let (events, _, _) = try h.pullAll(bob.id, from: Cursor(user: bob.id, inboxSeq: 0))
            expectExactlyOnceInOrder(events, expected: [room: [1, 2]])
        }
    }

    /// With a fake wall clock: inbox rows older than the offline retention are pruned,
    /// an old cursor then gets `cursorExpired` (startPull answers with a fresh first
    /// screen), while unread counts stay right and the fresh cursor pulls exactly.
    @Test(arguments: allStoreFactories)
    func retentionExpiresOldCursorsAndKeepsUnread(_ factory: any StoreFactory) throws {
        let clock = FakeClock()
        var config = EngineConfiguration()
        config.offlineRetentionMillis = 60_000
        config.historyRetentionMillis = 0
        try Harness.with(factory, config: config, clock: clock.function) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let dm = try h.direct(alice, bob)
            for i in 1...5 { _ = try h.send(alice, dm, "old\(i)").get() }
            _ = try h.write { try Conversations.markRead($0, me: bob.principal, room: dm, seq: 2) }.get()
            // Bob's device pulls a little, then goes offline.
            let firstPage = try h.read { ctx throws in
                try Stream.pull(ctx, user: bob.id, after: Cursor(user: bob.id, inboxSeq: 0), limit: 3, perRoomLimit: nil)
            }
            #expect(firstPage.hasMore)
            let oldCursor = firstPage.cursor.encoded

            // Nothing is old yet: a prune removes nothing.
            let early = try h.write { try Retention.prune($0) }.get()
            #expect(early.inboxRows == 0 && early.messages == 0)

            clock.advance(by: 120_000)
            for i in 1...2 { _ = try h.send(alice, dm, "new\(i)").get() }
            let done = DispatchSemaphore(value: 0)
            h.engine.pruneRound { done.signal() }
            done.wait()

            let bounds = try #require(try h.read { try $0.store.inboxBounds(user: bob.id) })
            #expect(bounds.head == 9)   // created, 5 messages, read, 2 messages
            #expect(bounds.floor == 7, "the rows older than a minute are pruned")
            #expect(try h.read { try $0.store.inboxKeys(user: bob.id, after: 0, limit: 100) }.map(\.seq) == [8, 9])

            #expect(throws: SyncError.cursorExpired) {
                try h.read { try Stream.validate($0.store, cursor: oldCursor, user: bob.id) }
            }
            guard case .expired(let me, let screen)? = try h.engine.startPull(h.reader, token: bob.token, cursor: oldCursor,
                                                                              mayWait: false) else {
                Issue.record("an old cursor did not expire")
                return
            }
            #expect(me == bob.principal)
            #expect(screen.conversations.map(\.room.id) == [dm])
            #expect(screen.conversations.first?.unread == 5)
            #expect(screen.conversations.first?.preview.map(\.clientMsgID) == ["old5", "new1", "new2"])

            // Unread counts do not depend on the pruned rows.
            #expect(try h.read { try Conversations.unread($0, me: bob.id) }.total == 5)
            #expect(try h.read { try Conversations.unread($0, me: alice.id) }.total == 0)
            // History retention is off: all seven messages remain.
            let history = try h.read { try Messages.history($0, me: bob.id, room: dm, before: nil, limit: 20) }
            #expect(history.messages.map(\.seq) == Array(1...7))

            // The fresh cursor pulls exactly what comes next.
            #expect(try h.pullAll(bob.id, from: screen.cursor).events.isEmpty)
            _ = try h.send(alice, dm, "after").get()
            let (events, _, _) = try h.pullAll(bob.id, from: screen.cursor)
            expectExactlyOnceInOrder(events, expected: [dm: [8]])
            #expect(try h.read { try Conversations.unread($0, me: bob.id) }.total == 6)
        }
    }

    /// History retention on a hot room: old messages go, the room's history floor rises,
    /// a cursor positioned below it is expired, unread stays last seq - read seq, and a
    /// pull from the start delivers what remains, once.
    @Test(arguments: allStoreFactories)
    func historyRetentionExpiresHotRoomPositions(_ factory: any StoreFactory) throws {
        let clock = FakeClock()
        var config = EngineConfiguration()
        config.hotThreshold = 3
        config.offlineRetentionMillis = 0
        config.historyRetentionMillis = 60_000
        try Harness.with(factory, config: config, clock: clock.function) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let hot = try h.group(alice, "big", [bob, carol])
            for i in 1...4 { _ = try h.send(alice, hot, "old\(i)").get() }
            let firstPage = try h.read { ctx throws in
                try Stream.pull(ctx, user: bob.id, after: Cursor(user: bob.id, inboxSeq: 0), limit: 3, perRoomLimit: nil)
            }
            #expect(firstPage.cursor.hot[hot] == 2)
            let oldCursor = firstPage.cursor.encoded

            clock.advance(by: 120_000)
            for i in 1...2 { _ = try h.send(carol, hot, "new\(i)").get() }
            let pruned = try h.write { try Retention.prune($0) }.get()
            #expect(pruned.messages == 4)
            #expect(try h.read { try $0.store.historyFloor(room: hot) } == 4)

            #expect(throws: SyncError.cursorExpired) {
                try h.read { try Stream.validate($0.store, cursor: oldCursor, user: bob.id) }
            }
            guard case .expired(_, let screen)? = try h.engine.startPull(h.reader, token: bob.token, cursor: oldCursor,
                                                                         mayWait: false) else {
                Issue.record("a cursor below the history floor did not expire")
                return
            }
            #expect(screen.conversations.first?.unread == 6)
            #expect(try h.read { try Conversations.unread($0, me: bob.id) }.total == 6)
            #expect(try h.read { try Conversations.unread($0, me: carol.id) }.total == 0, "carol sent the newest")
            // What remains, once each, from the start and from the fresh cursor.
            let (events, _, _) = try h.pullAll(bob.id, from: Cursor(user: bob.id, inboxSeq: 0), limit: 10)
            expectExactlyOnceInOrder(events, expected: [hot: [5, 6]])
            #expect(try h.pullAll(bob.id, from: screen.cursor).events.isEmpty)

            // The same from the start in pages of one. The first page (bob's `member`
            // event) consumes nothing of the hot room, and Stream.pull hands out the room's
            // position at its floor (bob's join, 0) although the history floor is 4: the
            // cursor it just issued is then `cursorExpired`. (Domain bug in Stream.pull,
            // not the store: a hot room's start should be raised to its history floor.)
            let page1 = try h.read { ctx throws in
                try Stream.pull(ctx, user: bob.id, after: Cursor(user: bob.id, inboxSeq: 0), limit: 1, perRoomLimit: nil)
            }
            #expect(page1.events.map(\.kind) == [.member])
            // A page that ends before the hot room's first message still hands out a
            // position at or above the room's history floor (it used to be the join
            // point, already expired).
            #expect((page1.cursor.hot[hot] ?? 0) >= 4)
            let (paged, _, _) = try h.pullAll(bob.id, from: Cursor(user: bob.id, inboxSeq: 0), limit: 1)
            expectExactlyOnceInOrder(paged, expected: [hot: [5, 6]])
        }
    }
    /// Receipts are coalesced per (room, sender) and window: a read (or a send that reads
    /// what came before) emits at once when the window has passed, otherwise marks the
    /// pair pending; the periodic flush emits each pending pair once, in every room, and
    /// a second flush finds nothing.
    @Test(arguments: allStoreFactories)
    func receiptsAreEmittedOncePerSenderAndWindow(_ factory: any StoreFactory) throws {
        let clock = FakeClock()
        try Harness.with(factory, clock: clock.function) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let rooms = [try h.group(alice, "one", [bob, carol]), try h.group(alice, "two", [bob, carol])]
            func receipts(_ u: TestUser) throws -> [RoomID?] {
                try h.read { try $0.store.inboxKeys(user: u.id, after: 0, limit: 1000) }.filter { $0.kind == .receipts }.map(\.room)
            }
            for room in rooms {
                _ = try h.send(alice, room, "a\(room.rawValue)").get()
                _ = try h.send(carol, room, "c\(room.rawValue)").get()   // carol's send reads alice's: emitted at once
            }
            #expect(try receipts(alice).count == 2)
            // Bob reads both rooms inside the window: marks only.
            for room in rooms { _ = try h.write { try Conversations.markRead($0, me: bob.principal, room: room, seq: 2) }.get() }
            #expect(try receipts(alice).count == 2)
            #expect(try receipts(carol).count == 2, "carol's first receipts window had not begun")
            clock.advance(by: h.engine.config.receiptsWindowMillis + 1)
            #expect(try h.write { try Receipts.flush($0) }.get() == 0)
            #expect(try receipts(alice).count == 4)
            #expect(Set(try receipts(alice).suffix(2)) == Set(rooms))
            #expect(try receipts(carol).count == 2)
            #expect(try h.write { try Receipts.flush($0) }.get() == 0)
            #expect(try receipts(alice).count == 4, "a second flush emits nothing")
        }
    }
    /// Joins and leaves, each one store operation: who may add and remove, what is
    /// refused (and then writes nothing), the members and counts after, and the `member`
    /// events every member gets, in order.
    @Test(arguments: allStoreFactories)
    func joinsAndLeavesKeepTheirRulesAndEvents(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let dave = try h.user("dave")
            _ = try h.user("carol")
            let null = try h.user("null")   // a name PostgreSQL quotes in a text[]
            let room = try h.group(alice, "crew", [bob])
            let dm = try h.direct(alice, bob)
            let bobHead = try #require(try h.read { try $0.store.inboxHead(user: bob.id) })
            func add(_ by: TestUser, _ r: RoomID, _ names: [String]) -> Result<[String], SyncError> {
                h.write { try Rooms.addMembers($0, me: by.principal, room: r, names: names).map(\.name) }
            }
            func remove(_ by: TestUser, _ r: RoomID, _ name: String) -> Result<Int, SyncError> {
                h.write { try Rooms.removeMember($0, me: by.principal, room: r, name: name); return 0 }
            }
            #expect(try add(bob, room, ["carol", "null", "carol"]).get() == ["carol", "null"])
            #expect(try add(bob, room, ["carol", "alice"]).get() == [], "members already")
            #expect(add(bob, room, ["carol", "nobody"]) == .failure(.userNotFound("nobody")))
            #expect(add(dave, room, ["dave"]) == .failure(.notMember))
            #expect(add(bob, RoomID(999_999), ["dave"]) == .failure(.roomNotFound))
            #expect(add(bob, dm, ["dave"]) == .failure(.forbidden("members of a direct room cannot change")))
            #expect(remove(bob, room, "carol") == .failure(.forbidden("only the room owner can remove other members")))
            #expect(remove(alice, room, "dave") == .failure(.invalid(field: "name", reason: "dave is not a member")))
            #expect(remove(alice, room, "nobody") == .failure(.userNotFound("nobody")))
            #expect(remove(dave, room, "dave") == .failure(.notMember))
            #expect(remove(alice, dm, "bob") == .failure(.forbidden("members of a direct room cannot change")))
            #expect(try remove(alice, room, "carol").get() == 0)
            #expect(try remove(null, room, "null").get() == 0)
            try h.read { ctx throws in
                #expect(try ctx.store.members(of: room, after: nil, limit: 10_000).map(\.name) == ["alice", "bob"])
                #expect(try ctx.store.room(room)?.memberCount == 2)
            }
            let (events, _, _) = try h.pullAll(bob.id, from: Cursor(user: bob.id, inboxSeq: bobHead))
            let actions = events.filter { $0.room == room }.map { "\($0.payload?["action"]?.stringValue ?? "?") \($0.payload?["user"]?.stringValue ?? "?")" }
            #expect(actions == ["added carol", "added null", "removed carol", "left null"])
            let byOf = events.filter { $0.room == room }.map { $0.payload?["by"]?.stringValue }
            #expect(byOf == ["bob", "bob", "alice", nil])
        }
    }
}
