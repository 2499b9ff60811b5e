import Dispatch
import SyncEngine
import Testing

/// What a read costs on a backend with round trips (PostgreSQL), counted with
/// `pg_stat_statements` (BEGIN and COMMIT included): fixed, whatever a page carries.
enum Statements {
    /// BEGIN, inbox keys, hot memberships, hot-room keys, message bodies, COMMIT. (No
    /// hot-room key read when no hot room has anything after its position; no body read
    /// for a page without messages: an empty recheck is 4.)
    static let pullPage = 6
    /// A catch-up page (`per_room_limit`): BEGIN, the inbox window with the inbox head,
    /// hot memberships, the change rows of the rooms with more messages in the window or
    /// more seqs owed in a hot room than the limit (one read for all of them; none when
    /// no room has), hot-room keys, message bodies, COMMIT.
    static let catchUpPage = 7
    /// A pull's start: BEGIN, the token with the device's stream state, the hot
    /// memberships (with departures and history floors, whether the cursor names no hot
    /// room or twenty), COMMIT.
    static let pullStart = 4
    /// A first conversation page: BEGIN, hot conversations, normal conversations, peers
    /// of its direct rooms, previews, the cursor (inbox head and hot memberships),
    /// COMMIT. (No peer read for a page without a direct room.)
    static let firstConversationPage = 7
    /// A later page also reads the rooms that moved up since the first.
    static let laterConversationPage = 8
    /// BEGIN, membership, messages, COMMIT.
    static let historyPage = 4
}

/// Runs `body`, and counts its statements where `counter` can (PostgreSQL).
func counted<T>(_ counter: StatementCounter?, _ body: () throws -> T) throws -> (T, Int?) {
    guard let counter else { return (try body(), nil) }
    let (value, n) = try counter.count(body)
    return (value, n)
}

/// Set-based reads: a pull page, a catch-up page, a conversation page and a history page
/// each cost a fixed number of statements on PostgreSQL (counted), whatever the number of
/// events, rooms or hot rooms; and on every backend they still hold every page rule.
@Suite(.timeLimit(.minutes(2)))
struct SetReadTests {
    /// A pull page carrying 1 event, 200 events, or events of 20 hot rooms: the same
    /// statements (`Statements.pullPage`); and its start, from a cursor naming no hot
    /// room or 20 of them: `Statements.pullStart`.
    @Test(arguments: allStoreFactories)
    func aPullPageCostsTheSameWhateverItCarries(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        try Harness.alone(factory, config: config) { h, counter in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let dm = try h.direct(alice, bob)
            var hot = [try h.group(bob, "hot0", [alice, carol])]
            #expect(try h.read { try $0.store.room(hot[0])?.hot } == true)
            var cursor = try h.read { try Stream.head($0.store, user: alice.id) }
            func page() throws -> (PullResult, Int?) {
                try counted(counter) {
                    try h.read { try Stream.pull($0, user: alice.id, after: cursor, limit: 500, perRoomLimit: nil) }
                }
            }

            // One event.
            _ = try h.send(bob, hot[0], "one").get()
            let (one, oneCount) = try page()
            #expect(one.events.compactMap(\.message).map(\.clientMsgID) == ["one"])
            #expect(!one.hasMore)
            cursor = one.cursor

            // Two hundred: 199 through the inbox, one of the hot room.
            for i in 0..<199 { _ = try h.send(bob, dm, "d\(i)").get() }
            _ = try h.send(carol, hot[0], "two").get()
            let (many, manyCount) = try page()
            #expect(many.events.count == 200)
            #expect(!many.hasMore)
            expectExactlyOnceInOrder(many.events, expected: [dm: Array(1...199), hot[0]: [2]])
            cursor = many.cursor

            // Twenty hot rooms (nineteen new: their creation comes through the inbox).
            for i in 1..<20 { hot.append(try h.group(bob, "hot\(i)", [alice, carol])) }
            var expected: [RoomID: [Int64]] = [hot[0]: [3, 4]]
            for room in hot.dropFirst() { expected[room] = [1, 2] }
            for (i, room) in hot.enumerated() {
                _ = try h.send(bob, room, "b\(i)").get()
                _ = try h.send(carol, room, "c\(i)").get()
            }
            let (twenty, twentyCount) = try page()
            expectExactlyOnceInOrder(twenty.events, expected: expected)
            #expect(twenty.events.filter { $0.kind == .member }.count == 19)
            #expect(!twenty.hasMore)
            #expect(Set(twenty.cursor.hot.keys) == Set(hot))
            #expect(try h.read { try Stream.head($0.store, user: alice.id) } == twenty.cursor)

            // The start of a pull (as `SyncEngine.startPull` reads it): the token, the
            // cursor's validation, the hot rooms that wake it.
            func start(_ text: String) throws -> (Set<RoomID>, Int?) {
                try counted(counter) {
                    try h.read { ctx in
                        let (me, state) = try #require(try Accounts.authenticateForPull(ctx.store, token: alice.token))
                        let v = try Stream.validateWithHead(ctx.store, cursor: text, user: me.user,
                                                            bounds: (state.inboxHead, state.inboxFloor))
                        return try v.hotRooms ?? Stream.hotRooms(ctx.store, user: me.user)
                    }
                }
            }
            let (fromInbox, inboxOnlyStart) = try start(Cursor(user: alice.id, inboxSeq: twenty.cursor.inboxSeq).encoded)
            let (fromHot, twentyHotStart) = try start(twenty.cursor.encoded)
            #expect(fromInbox == Set(hot))
            #expect(fromHot == Set(hot))

            if counter != nil {
                #expect(oneCount == Statements.pullPage, "1 event")
                #expect(manyCount == Statements.pullPage, "200 events")
                #expect(twentyCount == Statements.pullPage, "events of 20 hot rooms")
                #expect(inboxOnlyStart == Statements.pullStart, "a cursor naming no hot room")
                #expect(twentyHotStart == Statements.pullStart, "a cursor naming 20 hot rooms")
                // Caught up: no hot-room key read, no body read.
                cursor = twenty.cursor
                let (empty, emptyCount) = try page()
                #expect(empty.events.isEmpty)
                #expect(emptyCount == 4)
            }
        }
    }

    /// A catch-up page (`per_room_limit` 2) over 2 rooms or over 30 (20 of them hot):
    /// the same statements (`Statements.catchUpPage`), the newest two of each room and
    /// a gap for each room that had more.
    @Test(arguments: allStoreFactories)
    func aCatchUpPageCostsTheSameWhateverItCarries(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 4
        try Harness.alone(factory, config: config) { h, counter in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let dave = try h.user("dave")
            var normal = [try h.group(alice, "n0", [bob, carol])]
            var hot = [try h.group(alice, "h0", [bob, carol, dave])]
            #expect(try h.read { try $0.store.room(normal[0])?.hot } == false)
            #expect(try h.read { try $0.store.room(hot[0])?.hot } == true)
            var cursor = try h.read { try Stream.head($0.store, user: alice.id) }
            func page() throws -> (PullResult, Int?) {
                try counted(counter) {
                    try h.read { try Stream.pull($0, user: alice.id, after: cursor, limit: 1000, perRoomLimit: 2) }
                }
            }

            for i in 0..<10 {
                _ = try h.send(bob, normal[0], "n\(i)").get()
                _ = try h.send(carol, hot[0], "h\(i)").get()
            }
            let (small, smallCount) = try page()
            expectExactlyOnceInOrder(small.events, expected: [normal[0]: [9, 10], hot[0]: [9, 10]])
            #expect(Dictionary(uniqueKeysWithValues: small.gaps.map { ($0.room, $0.beforeSeq) }) == [normal[0]: 9, hot[0]: 9])
            #expect(!small.hasMore)
            cursor = small.cursor

            for i in 1..<10 { normal.append(try h.group(alice, "n\(i)", [bob, carol])) }
            for i in 1..<20 { hot.append(try h.group(alice, "h\(i)", [bob, carol, dave])) }
            var expected: [RoomID: [Int64]] = [:]
            for room in normal + hot {
                for i in 0..<5 { _ = try h.send(i % 2 == 0 ? bob : carol, room, "\(room)-\(i)").get() }
                expected[room] = room == normal[0] || room == hot[0] ? [14, 15] : [4, 5]
            }
            let (large, largeCount) = try page()
            expectExactlyOnceInOrder(large.events, expected: expected)
            #expect(large.gaps.count == 30)
            #expect(!large.hasMore)

            if counter != nil {
                #expect(smallCount == Statements.catchUpPage, "2 rooms")
                #expect(largeCount == Statements.catchUpPage, "30 rooms, 20 hot")
            }
        }
    }

    /// The first conversation page of one room or of 50 (25 direct, 24 groups, one hot),
    /// three previews each: the same statements (`Statements.firstConversationPage`);
    /// later pages `Statements.laterConversationPage`; every room once, with its peer and
    /// its newest three messages.
    @Test(arguments: allStoreFactories)
    func aConversationPageCostsTheSameWhateverItCarries(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 4
        try Harness.alone(factory, config: config) { h, counter in
            let alice = try h.user("alice")
            let solo = try h.user("solo")
            var peers: [TestUser] = []
            for i in 0..<25 { peers.append(try h.user("p\(i)")) }
            func list(_ me: TestUser, limit: Int, page: String? = nil) throws -> (ConversationPage, Int?) {
                try counted(counter) { try h.read { try Conversations.list($0, me: me.id, limit: limit, preview: 3, page: page) } }
            }

            let soloRoom = try h.direct(solo, peers[0])
            for i in 0..<4 { _ = try h.send(i % 2 == 0 ? solo : peers[0], soloRoom, "s\(i)").get() }
            let (one, oneCount) = try list(solo, limit: 50)
            #expect(one.conversations.map(\.room.id) == [soloRoom])
            #expect(one.conversations.first?.peer == "p0")
            #expect(one.conversations.first?.preview.map(\.clientMsgID) == ["s1", "s2", "s3"])

            // Direct rooms and groups alternate, so every page of 20 has both.
            var rooms: [RoomID] = []
            var peerOf: [RoomID: String] = [:]
            for (i, p) in peers.enumerated() {
                let room = try h.direct(alice, p)
                rooms.append(room)
                peerOf[room] = p.name
                if i < 24 { rooms.append(try h.group(alice, "g\(i)", [peers[i], peers[i + 1]])) }
            }
            let hot = try h.group(alice, "hot", [peers[0], peers[1], peers[2]])
            #expect(try h.read { try $0.store.room(hot)?.hot } == true)
            rooms.append(hot)
            for room in rooms {
                for i in 0..<4 { _ = try h.send(alice, room, "\(room)-\(i)").get() }
            }
            let (fifty, fiftyCount) = try list(alice, limit: 50)
            #expect(fifty.nextPage == nil)
            #expect(Set(fifty.conversations.map(\.room.id)) == Set(rooms))
            #expect(fifty.conversations.count == 50)
            for c in fifty.conversations {
                #expect(c.preview.map(\.seq) == [2, 3, 4], "room \(c.room.id)")
                #expect(c.preview.allSatisfy { $0.room == c.room.id })
                #expect(c.peer == peerOf[c.room.id])
            }
            // Newest activity first, as the single-room reads ordered it.
            #expect(fifty.conversations.map(\.room.id) == Array(rooms.reversed()))

            // In pages of 20: every room once, in the same order.
            var listed: [RoomID] = []
            var token: String? = nil
            var pageCounts: [Int?] = []
            repeat {
                let (page, n) = try list(alice, limit: 20, page: token)
                listed += page.conversations.map(\.room.id)
                pageCounts.append(n)
                token = page.nextPage
            } while token != nil && listed.count < 100
            #expect(listed == fifty.conversations.map(\.room.id))

            if counter != nil {
                #expect(oneCount == Statements.firstConversationPage, "1 room")
                #expect(fiftyCount == Statements.firstConversationPage, "50 rooms")
                #expect(pageCounts == [Statements.firstConversationPage, Statements.laterConversationPage,
                                       Statements.laterConversationPage])
            }
        }
    }

    /// A history page of 1 message or of 100: `Statements.historyPage`.
    @Test(arguments: allStoreFactories)
    func aHistoryPageCostsTheSameWhateverItCarries(_ factory: any StoreFactory) throws {
        try Harness.alone(factory) { h, counter in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let quiet = try h.direct(alice, bob)
            let busy = try h.group(alice, "busy", [bob])
            _ = try h.send(bob, quiet, "only").get()
            for i in 0..<150 { _ = try h.send(bob, busy, "b\(i)").get() }
            func history(_ room: RoomID) throws -> (HistoryPage, Int?) {
                try counted(counter) { try h.read { try Messages.history($0, me: alice.id, room: room, before: nil, limit: 100) } }
            }
            let (one, oneCount) = try history(quiet)
            #expect(one.messages.map(\.seq) == [1])
            #expect(one.nextBefore == nil)
            let (hundred, hundredCount) = try history(busy)
            #expect(hundred.messages.map(\.seq) == Array(51...150))
            #expect(hundred.nextBefore == 51)
            if counter != nil {
                #expect(oneCount == Statements.historyPage)
                #expect(hundredCount == Statements.historyPage)
            }
        }
    }

    /// Large bodies in the inbox and three hot rooms with a small page byte budget: the
    /// store reads the bodies a page can reach, every page stays within the budget (a
    /// message of about 10 KB each, at most three per 40 KB page), and paging delivers
    /// every message exactly once, in order, each page at most `Statements.pullPage`.
    @Test(arguments: allStoreFactories)
    func pagesCutByBytesContinueExactly(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        config.maxPageBytes = 40_000
        try Harness.alone(factory, config: config) { h, counter in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let dm = try h.direct(alice, bob)
            let hot = [try h.group(bob, "h0", [alice, carol]), try h.group(bob, "h1", [alice, carol]),
                       try h.group(carol, "h2", [alice, bob])]
            let start = try h.read { try Stream.head($0.store, user: alice.id) }
            let body = "\"" + String(repeating: "x", count: 10_000) + "\""
            for i in 0..<8 {
                _ = try h.send(bob, dm, "d\(i)", body).get()
                for (j, room) in hot.enumerated() { _ = try h.send(j == 2 ? bob : carol, room, "h\(j)-\(i)", body).get() }
            }
            var cursor = start
            var events: [Event] = []
            var pages = 0
            while true {
                let (page, n) = try counted(counter) {
                    try h.read { try Stream.pull($0, user: alice.id, after: cursor, limit: 1000, perRoomLimit: nil) }
                }
                pages += 1
                #expect(page.events.count >= 1 && page.events.count <= 3)
                if let n { #expect(n <= Statements.pullPage) }
                events += page.events
                cursor = page.cursor
                if !page.hasMore { break }
                guard pages < 100 else { throw TestSetupError("pull does not end") }
            }
            #expect(pages >= 11)
            var expected: [RoomID: [Int64]] = [dm: Array(1...8)]
            for room in hot { expected[room] = Array(1...8) }
            expectExactlyOnceInOrder(events, expected: expected)
            #expect(cursor == (try h.read { try Stream.head($0.store, user: alice.id) }))
        }
    }

    /// Messages pruned by history retention while their inbox rows remain (offline
    /// retention the longer): a page reads the bodies of its first `limit` events at
    /// once, so one whose messages were pruned ends early, with `hasMore`; paging still
    /// delivers what remains exactly once, in order, and ends.
    @Test(arguments: allStoreFactories)
    func prunedMessagesLeaveShortPagesThatContinueExactly(_ factory: any StoreFactory) throws {
        let clock = FakeClock()
        var config = EngineConfiguration()
        config.historyRetentionMillis = 60_000
        try Harness.with(factory, config: config, clock: clock.function) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let dm = try h.direct(alice, bob)
            for i in 1...10 { _ = try h.send(alice, dm, "old\(i)").get() }
            clock.advance(by: 120_000)
            for i in 1...3 { _ = try h.send(alice, dm, "new\(i)").get() }
            let done = DispatchSemaphore(value: 0)
            h.engine.pruneRound { done.signal() }
            done.wait()
            #expect(try h.read { try Messages.history($0, me: bob.id, room: dm, before: nil, limit: 20) }.messages.map(\.seq)
                    == [11, 12, 13])
            let (events, cursor, _) = try h.pullAll(bob.id, from: Cursor(user: bob.id, inboxSeq: 0), limit: 4)
            expectExactlyOnceInOrder(events, expected: [dm: [11, 12, 13]])
            #expect(events.filter { $0.kind == .member }.count == 1)
            #expect(cursor == (try h.read { try Stream.head($0.store, user: bob.id) }))
        }
    }
}

/// `membersAtInboxHead`: of the users asked (each with an inbox seq), exactly those who
/// are members of the room now and whose inbox head is still that seq.
@Suite(.timeLimit(.minutes(2)))
struct MembersAtInboxHeadTests {
    @Test(arguments: allStoreFactories)
    func onlyMembersWhoseInboxDidNotMove(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        try Harness.with(factory, config: config) { h in
            let owner = try h.user("owner")
            let stays = try h.user("stays")
            let leaves = try h.user("leaves")
            let busy = try h.user("busy")
            let outsider = try h.user("outsider")
            let room = try h.group(owner, "hot", [stays, leaves, busy])
            #expect(try h.read { try $0.store.room(room)?.hot } == true)
            func head(_ u: TestUser) throws -> Int64 { try #require(try h.read { try $0.store.inboxHead(user: u.id) }) }
            let asked = [stays.id: try head(stays), leaves.id: try head(leaves), busy.id: try head(busy),
                         outsider.id: try head(outsider)]
            // leaves leaves (its inbox gets the leave); busy gets a direct message.
            _ = try h.write { try Rooms.removeMember($0, me: leaves.principal, room: room, name: "leaves") }.get()
            let dm = try h.direct(owner, busy)
            _ = try h.send(owner, dm, "d1").get()
            let found = try h.read { try $0.store.membersAtInboxHead(room: room, users: asked) }
            #expect(found == [stays.id])
            // A seq behind the head does not count either.
            let behind = try h.read { try $0.store.membersAtInboxHead(room: room, users: [stays.id: asked[stays.id]! - 1]) }
            #expect(behind.isEmpty)
            #expect(try h.read { try $0.store.membersAtInboxHead(room: room, users: [:]) }.isEmpty)
        }
    }
}
