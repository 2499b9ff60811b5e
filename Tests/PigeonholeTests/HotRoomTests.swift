import Foundation
import JSON
import SQLiteStore
import SyncAPI
@testable import SyncEngine
import Testing

/// Hot rooms (read diffusion, issue 5) end to end against the real server: a message in
/// a big room is stored once and written to no inbox; every member's pull merges it in
/// commit order with their inbox; cursors carry one position per hot room and advance
/// each component only as far as returned; joins, leaves, old cursors, long-polls and
/// WebSocket wake-ups; conversation pages over mixed hot and normal rooms while messages
/// arrive; and a room that turns hot under its members' feet.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HotRoomTests {
    static func threshold(_ n: Int) -> (inout PigeonholeServer.Configuration) -> Void {
        { $0.api.engine.hotThreshold = n }
    }

    /// What a test compares of an event: `message:<room>:<client_msg_id>`,
    /// `member:<room>:<action>:<user>`, `read:<room>:<read_seq>`, `receipts:<room>`.
    static func key(_ e: JSONValue) -> String {
        let type = e["type"]?.stringValue ?? "?"
        let room = e["room_id"]?.int64Value.map(String.init) ?? "-"
        switch type {
        case "message": return "message:\(room):\(e["message"]?["client_msg_id"]?.stringValue ?? "?")"
        case "member": return "member:\(room):\(e["action"]?.stringValue ?? "?"):\(e["user"]?.stringValue ?? "?")"
        case "read": return "read:\(room):\(e["read_seq"]?.int64Value ?? -1)"
        default: return "\(type):\(room)"
        }
    }

    static func keys(_ events: [JSONValue]) -> [String] { events.map(key) }

    /// The keys without `receipts` events: those are coalesced in time (HotRoomReceiptTests
    /// covers them), so streams here are compared without them.
    static func ordered(_ events: [JSONValue]) -> [String] { keys(events).filter { !$0.hasPrefix("receipts:") } }

    static func decode(_ cursor: String?) throws -> Cursor {
        try #require(cursor.flatMap(Cursor.decode), "cursor \(cursor ?? "nil") does not decode")
    }

    // MARK: 1. 1,000 members, threshold 500

    @Test func aThousandMemberRoomStoresEachMessageOnceAndEveryMemberPullsItExactlyOnceInOrder() throws {
        try TestServer.with(configure: Self.threshold(500)) { server in
            let started = ContinuousClock.now
            let names = (0..<1000).map { "m" + String(1000 + $0).dropFirst() + "x" }   // m000x ... m999x
            let members = try server.provisionUsers(names)
            let friend = try server.createUser("friend", device: "phone")
            let ids = try server.userIDs()
            // A fresh user's first-screen cursor is the start of their stream; the other
            // 998 start cursors are built the same way instead of 998 more requests.
            for i in [1, 999] {
                #expect(try members[i].conversationsCursor() == Cursor(user: UserID(ids[names[i]]!), inboxSeq: 0).encoded)
            }
            let provisioned = ContinuousClock.now

            let owner = members[0]
            let created = try owner.post("/v1/rooms", ["name": "town", "members": .array(names.dropFirst().map { .string($0) })])
            #expect(created.status == 201, "\(created.text)")
            #expect(created.json["member_count"]?.intValue == 1000)
            let town = try #require(created.json["id"]?.int64Value)
            #expect(try server.count("SELECT hot FROM rooms WHERE id = ?", [.integer(town)]) == 1)

            // 50 sampled members (every 20th, the owner included) also get direct messages,
            // interleaved with the hot room's messages.
            let sample = Array(stride(from: 0, to: 1000, by: 20))
            var dm: [Int: Int64] = [:]
            for i in sample { dm[i] = try friend.directRoom(with: names[i]) }

            // One hot send: exactly one message row, no inbox row at all.
            let messagesBefore = try server.count("SELECT count(*) FROM messages")
            let inboxBefore = try server.count("SELECT count(*) FROM inbox WHERE kind != 'receipts'")
            #expect(try owner.sendOK(town, "h1", "hello town") == 1)
            #expect(try server.count("SELECT count(*) FROM messages") == messagesBefore + 1)
            #expect(try server.count("SELECT count(*) FROM messages WHERE room_id = ?", [.integer(town)]) == 1)
            #expect(try server.count("SELECT count(*) FROM inbox WHERE kind = 'message' AND room_id = ?", [.integer(town)]) == 0)
            #expect(try server.count("SELECT count(*) FROM inbox WHERE kind != 'receipts'") == inboxBefore)
            #expect(try server.count("SELECT count(*) FROM push_outbox WHERE room_id = ?", [.integer(town)]) == 0)

            for i in sample { try friend.sendOK(dm[i]!, "dmA-\(i)", "first dm") }
            try members[500].sendOK(town, "h2", "second")
            for i in sample { try friend.sendOK(dm[i]!, "dmB-\(i)", "second dm") }
            try members[999].sendOK(town, "h3", "third")
            #expect(try server.count("SELECT count(*) FROM inbox WHERE kind = 'message' AND room_id = ?", [.integer(town)]) == 0)
            #expect(try server.count("SELECT count(*) FROM messages WHERE room_id = ?", [.integer(town)]) == 3)
            let sent = ContinuousClock.now

            // Every one of the 1,000 devices pulls from its start cursor: the room's three
            // messages exactly once, in commit order with its own direct messages.
            let sampled = Set(sample)
            let dmRooms = dm
            let failures = Locked<[String]>([])
            let pulled = Locked(0)
            let port = server.port
            let townKey = "member:\(town):created:\(names[0])"
            onThreads(4) { t in
                guard let client = try? HTTPTestClient(port: port, timeout: 10) else {
                    return failures.withLock { $0.append("thread \(t): no connection") }
                }
                for i in stride(from: t, to: 1000, by: 4) {
                    let device = members[i].on(client)
                    var expected = [townKey]
                    if sampled.contains(i) {
                        let d = dmRooms[i]!
                        expected += ["member:\(d):created:friend", "message:\(town):h1", "message:\(d):dmA-\(i)",
                                     "message:\(town):h2", "message:\(d):dmB-\(i)", "message:\(town):h3"]
                    } else {
                        expected += ["message:\(town):h1", "message:\(town):h2", "message:\(town):h3"]
                    }
                    do {
                        let start = Cursor(user: UserID(ids[names[i]]!), inboxSeq: 0).encoded
                        let r = try device.pull(start, limit: 100)
                        let got = Self.ordered(r.json["events"]?.array ?? [])
                        let cursor = r.json["cursor"]?.stringValue.flatMap(Cursor.decode)
                        if r.status != 200 || got != expected || r.json["has_more"]?.boolValue != false
                            || cursor?.hot[RoomID(town)] != 3 {
                            failures.withLock { $0.append("\(names[i]): \(r.status) \(got) cursor \(String(describing: cursor))") }
                        }
                        pulled.withLock { $0 += 1 }
                    } catch {
                        failures.withLock { $0.append("\(names[i]): \(error)") }
                    }
                }
            }
            let done = ContinuousClock.now
            print("hot 1000: provision \((provisioned - started).milliseconds) ms, room+sends \((sent - provisioned).milliseconds) ms, 1000 pulls \((done - sent).milliseconds) ms")
            #expect(pulled.value == 1000)
            #expect(failures.value.isEmpty, "\(failures.value.count) members wrong, e.g. \(failures.value.prefix(3))")
        }
    }

    // MARK: 2. limit=1 through a mix of hot and normal events

    @Test func limitOnePagingThroughHotAndNormalEventsReturnsEveryEventOnceInCommitOrder() throws {
        try TestServer.with(configure: Self.threshold(3)) { server in
            let alice = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let dave = try server.createUser("dave", device: "phone")
            let erin = try server.createUser("erin", device: "phone")
            let start = try alice.conversationsCursor()

            // Ground truth: alice's events in the order the operations happened.
            var expected: [String] = []
            func send(_ d: TestDevice, _ room: Int64, _ id: String) throws {
                try d.sendOK(room, id, id)
                expected.append("message:\(room):\(id)")
            }
            let h1 = try bob.createGroup("h1", members: ["alice", "carol"])                  // 3: hot
            expected.append("member:\(h1):created:bob")
            try send(bob, h1, "h1a")
            let d = try dave.directRoom(with: "alice")
            expected.append("member:\(d):created:dave")
            try send(dave, d, "d1")
            let g = try bob.createGroup("g", members: ["alice"])                              // 2: normal
            expected.append("member:\(g):created:bob")
            try send(bob, g, "g1")
            try send(bob, h1, "h1b")
            try send(carol, h1, "h1c")
            let h2 = try carol.createGroup("h2", members: ["alice", "bob", "dave"])           // 4: hot
            expected.append("member:\(h2):created:carol")
            try send(dave, h2, "h2a")
            try send(dave, d, "d2")
            try send(bob, g, "g2")
            try send(carol, h2, "h2b")
            try send(bob, h1, "h1d")
            try bob.addMembers(h1, ["erin"])          // hot room: only erin hears of it
            try send(erin, h1, "h1e")
            try laptop.markRead(d, 2)                 // alice's own read marker, from her other device
            expected.append("read:\(d):2")
            try send(alice, h2, "h2c")
            try send(alice, g, "g3")
            let g2 = try erin.createGroup("g2", members: ["alice"])
            expected.append("member:\(g2):created:erin")
            try send(erin, g2, "x1")
            try erin.removeMember(g2, "erin")
            expected.append("member:\(g2):left:erin")
            try send(bob, h1, "h1f")
            try send(dave, d, "d3")
            try send(carol, h2, "h2d")
            try send(bob, g, "g4")

            let hotRooms = Set([h1, h2])
            for r in [h1, h2] { #expect(try server.count("SELECT hot FROM rooms WHERE id = ?", [.integer(r)]) == 1) }
            for r in [d, g, g2] { #expect(try server.count("SELECT hot FROM rooms WHERE id = ?", [.integer(r)]) == 0) }

            // One event per page, each component of the cursor moving only for what came back.
            var cursor = start
            var got: [String] = []
            var pages = 0
            while pages < 200 {
                let r = try alice.pull(cursor, limit: 1)
                try #require(r.status == 200, "\(r.text)")
                let events = r.json["events"]?.array ?? []
                let more = try #require(r.json["has_more"]?.boolValue as Bool?)
                let next = try #require(r.json["cursor"]?.stringValue)
                pages += 1
                #expect(events.count == 1 || (!more && events.isEmpty), "page \(pages): \(events.count) events, has_more \(more)")
                let before = try Self.decode(cursor), after = try Self.decode(next)
                if let e = events.first {
                    got.append(Self.key(e))
                    let room = e["room_id"]?.int64Value ?? 0
                    if e["type"]?.stringValue == "message", hotRooms.contains(room) {
                        // From a hot room: that room's position is the message's seq; nothing else moved.
                        #expect(after.hot[RoomID(room)] == e["message"]?["seq"]?.int64Value, "page \(pages) \(Self.key(e))")
                        #expect(after.inboxSeq == before.inboxSeq, "page \(pages) \(Self.key(e))")
                        for (r, p) in before.hot where r.rawValue != room { #expect(after.hot[r] == p, "page \(pages) room \(r)") }
                    } else {
                        // From the inbox: exactly one inbox entry further; hot positions unchanged.
                        #expect(after.inboxSeq == before.inboxSeq + 1, "page \(pages) \(Self.key(e))")
                        for (r, p) in before.hot { #expect(after.hot[r] == p, "page \(pages) room \(r)") }
                    }
                }
                cursor = next
                if !more { break }
            }
            let ordered = got.filter { !$0.hasPrefix("receipts:") }
            #expect(ordered == expected)
            #expect(ordered.count == Set(ordered).count, "duplicates")
            #expect(pages == got.count, "one event per page")

            // The end: nothing more (but perhaps a late coalesced receipts event).
            let end = try alice.pull(cursor, limit: 1000)
            #expect(Self.ordered(end.json["events"]?.array ?? []) == [])
            #expect(end.json["has_more"]?.boolValue == false)

            // One big page from the start merges the same way.
            let all = try alice.pullAll(from: start, limit: 1000)
            #expect(Self.ordered(all.events) == expected)
        }
    }

    // MARK: 3. join, leave, old cursors, long-poll and WebSocket wake-ups

    @Test func joiningStartsAtTheJoinPointLeavingStopsAndOldCursorsStayValid() throws {
        try TestServer.with(configure: Self.threshold(3)) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            _ = try server.createUser("dave", device: "phone")
            // plaza has bob and carol (2, normal); a third member makes it hot before alice is in it.
            let h = try bob.createGroup("plaza", members: ["carol"])
            try bob.addMembers(h, ["dave"])
            #expect(try server.count("SELECT hot FROM rooms WHERE id = ?", [.integer(h)]) == 1)
            try bob.sendOK(h, "before-1", "alice is not here")
            try bob.sendOK(h, "before-2", "still not")

            // c0: alice's cursor from before she joined (no position for the room at all).
            let c0 = try alice.conversationsCursor()
            #expect(try Self.decode(c0).hot.isEmpty)
            try bob.addMembers(h, ["alice"])
            try bob.sendOK(h, "after-1", "welcome")
            try bob.sendOK(h, "after-2", "hi")

            let fromOld = try alice.pullAll(from: c0)
            #expect(Self.ordered(fromOld.events) == ["member:\(h):added:alice", "message:\(h):after-1", "message:\(h):after-2"])
            let c1 = fromOld.cursor
            #expect(try Self.decode(c1).hot[RoomID(h)] == 4)
            let history = try alice.fullHistory(h, limit: 20).messages.compactMap { $0["client_msg_id"]?.stringValue }
            #expect(history == ["after-1", "after-2"])

            // Long-poll parked on the hot room wakes for its next message within a few hundred ms.
            let poller = try server.connect(timeout: 15)
            poller.send("GET", "/v1/sync?cursor=\(c1)&timeout=10", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            try bob.sendOK(h, "wake", "long-poll")
            let acked = ContinuousClock.now
            let woke = try poller.readResponse()
            let latency = ContinuousClock.now - acked
            print("hot long-poll wake: \(latency.milliseconds) ms after the 201")
            #expect(latency < .milliseconds(500))
            #expect(Self.ordered(woke.json["events"]?.array ?? []) == ["message:\(h):wake"])
            let c2 = try #require(woke.json["cursor"]?.stringValue)

            // A WebSocket gets `mail` for a hot-room message, and its cursor is where the pull ends.
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: alice.token)
            #expect(ready == c2)
            try bob.sendOK(h, "ding", "websocket")
            let mailAcked = ContinuousClock.now
            let mail = try ws.readNotification(timeout: 2)
            #expect(mail.type == "mail", "\(mail)")
            #expect(mail.receivedAt - mailAcked < .milliseconds(500))
            let afterMail = try alice.pull(c2)
            #expect(Self.ordered(afterMail.json["events"]?.array ?? []) == ["message:\(h):ding"])
            #expect(afterMail.json["cursor"]?.stringValue == mail.cursor)
            let c3 = try #require(afterMail.json["cursor"]?.stringValue)

            // Leaving stops the room: the leave event, then nothing of the room; the cursor drops it.
            try alice.removeMember(h, "alice")
            try bob.sendOK(h, "gone-1", "alice left")
            let afterLeave = try alice.pullAll(from: c3)
            #expect(Self.ordered(afterLeave.events) == ["member:\(h):left:alice"])
            #expect(try Self.decode(afterLeave.cursor).hot[RoomID(h)] == nil)
            // A cursor that still names the room she left is valid (200, the room dropped).
            let stale = try alice.pullAll(from: c2)
            #expect(try Self.decode(stale.cursor).hot[RoomID(h)] == nil)
            #expect(Self.ordered(stale.events).last == "member:\(h):left:alice")
            // A device still at c2 (behind "ding", sent while she was a member) gets "ding"
            // before the leave, as it would in a normal room (the departure keeps the range).
            #expect(Self.ordered(stale.events) == ["message:\(h):ding", "member:\(h):left:alice"])
            expectError(try alice.get("/v1/rooms/\(h)/messages"), 403, "not_member")

            // Rejoining starts at the new join point, whichever cursor she presents.
            try bob.sendOK(h, "gone-2", "still away")
            try bob.addMembers(h, ["alice"])
            try bob.sendOK(h, "back-1", "welcome back")
            let rejoined = try alice.pullAll(from: afterLeave.cursor)
            #expect(Self.ordered(rejoined.events) == ["member:\(h):added:alice", "message:\(h):back-1"])
            let viaOld = try alice.pullAll(from: c3)   // names the room at "ding", from before she left
            #expect(Self.ordered(viaOld.events) == ["member:\(h):left:alice", "member:\(h):added:alice", "message:\(h):back-1"])
            #expect(viaOld.cursor == rejoined.cursor)

            // The socket kept up through the leave and the rejoin: mail for the next message.
            var seen: [WebSocketTestClient.Frame] = []
            try bob.sendOK(h, "back-2", "again")
            let head = try alice.pullAll(from: rejoined.cursor)
            #expect(Self.ordered(head.events) == ["message:\(h):back-2"])
            #expect(ws.readUntil(cursor: head.cursor, timeout: 2, seen: &seen), "mail frames: \(seen)")
        }
    }

    @Test func aSocketOpenedBeforeJoiningAHotRoomGetsMailForItsMessages() throws {
        // No coalescing gap: the mail after the join's is the message's own.
        try TestServer.with(configure: { Self.threshold(3)(&$0); $0.api.notifyCoalesceInterval = .zero }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            _ = try server.createUser("dave", device: "phone")
            let h = try bob.createGroup("plaza", members: ["carol", "dave"])
            let (ws, start) = try WebSocketTestClient.openReady(server, token: alice.token)
            try bob.addMembers(h, ["alice"])
            let joined = try ws.readNotification(timeout: 2)   // the member event (inbox)
            #expect(joined.type == "mail")
            try bob.sendOK(h, "hot-1", "hello")
            let head = try alice.pullAll(from: start)
            #expect(Self.ordered(head.events) == ["member:\(h):added:alice", "message:\(h):hot-1"])
            var seen: [WebSocketTestClient.Frame] = []
            #expect(ws.readUntil(cursor: head.cursor, timeout: 2, seen: &seen), "mail frames: \(seen)")

            // A long-poll parked after the join wakes for the room's next message.
            let poller = try server.connect(timeout: 15)
            poller.send("GET", "/v1/sync?cursor=\(head.cursor)&timeout=10", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            try bob.sendOK(h, "hot-2", "again")
            let r = try poller.readResponse()
            #expect(Self.ordered(r.json["events"]?.array ?? []) == ["message:\(h):hot-2"])
        }
    }

    // MARK: 4. conversation list over 250 mixed rooms while messages arrive

    struct RoomState {
        var kind: String        // direct, group, hot
        var other: TestDevice   // who sends into it besides alice
        var lastSeq: Int64 = 0
        var aliceRead: Int64 = 0
        var unread: Int64 { lastSeq - aliceRead }
    }

    @Test func conversationPagesOverHotAndNormalRoomsListEachRoomOnceWithRightUnreadWhileMessagesArrive() throws {
        try TestServer.with(configure: Self.threshold(3)) { server in
            let began = ContinuousClock.now
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let peers = try server.provisionUsers((0..<100).map { "peer\($0)" })
            var rooms: [Int64: RoomState] = [:]
            var order: [Int64] = []
            var p = 0
            for i in 0..<250 {
                switch i % 5 {
                case 0, 3:
                    let id = try alice.directRoom(with: peers[p].user)
                    rooms[id] = RoomState(kind: "direct", other: peers[p])
                    p += 1
                    order.append(id)
                case 1, 4:
                    let id = try bob.createGroup("g\(i)", members: ["alice"])
                    rooms[id] = RoomState(kind: "group", other: bob)
                    order.append(id)
                default:
                    let id = try bob.createGroup("h\(i)", members: ["alice", "carol"])
                    rooms[id] = RoomState(kind: "hot", other: bob)
                    order.append(id)
                }
            }
            let hotCount = try server.count("SELECT count(*) FROM rooms WHERE hot = 1")
            #expect(hotCount == 50)

            var rng = SplitMix(seed: 5)
            func otherSends(_ id: Int64, _ tag: String) throws {
                rooms[id]!.lastSeq = try rooms[id]!.other.sendOK(id, tag, tag)
            }
            func aliceSends(_ id: Int64, _ tag: String) throws {
                let seq = try alice.sendOK(id, tag, tag)
                rooms[id]!.lastSeq = seq
                rooms[id]!.aliceRead = seq
            }
            // Activity in a shuffled order, so activity order and id order differ.
            for (n, id) in rng.shuffled(order).enumerated() {
                for k in 0..<(n % 3) { try otherSends(id, "s\(id)-\(k)") }
                if n % 7 == 0, rooms[id]!.lastSeq > 1 {
                    rooms[id]!.aliceRead = try alice.markRead(id, rooms[id]!.lastSeq - 1)
                }
                if n % 11 == 0 { try aliceSends(id, "a\(id)") }
            }
            let setUp = ContinuousClock.now

            var listed: [Int64] = []
            var pageSizes: [Int] = []
            var page: String? = nil
            var late: Int64? = nil
            var mismatches: [String] = []
            repeat {
                let r = try alice.get("/v1/conversations?limit=20&preview=1" + (page.map { "&page=\($0)" } ?? ""))
                try #require(r.status == 200, "\(r.text)")
                let convs = r.json["conversations"]?.array ?? []
                pageSizes.append(convs.count)
                var previous: String? = nil
                for c in convs {
                    let id = try #require(c["id"]?.int64Value)
                    listed.append(id)
                    guard let s = rooms[id] else { mismatches.append("unknown room \(id)"); continue }
                    if c["unread"]?.int64Value != s.unread || c["last_seq"]?.int64Value != s.lastSeq
                        || c["read_seq"]?.int64Value != s.aliceRead {
                        mismatches.append("room \(id) (\(s.kind)): \(c["unread"]?.int64Value ?? -1)/\(c["last_seq"]?.int64Value ?? -1)/\(c["read_seq"]?.int64Value ?? -1) want \(s.unread)/\(s.lastSeq)/\(s.aliceRead)")
                    }
                    let at = c["last_active_at"]?.stringValue ?? ""
                    if let previous { #expect(at <= previous, "page \(pageSizes.count) not by activity") }
                    previous = at
                }
                page = r.json["next_page"]?.stringValue
                guard page != nil else { break }

                // Between pages: news in rooms not listed yet and in rooms already listed.
                let seen = Set(listed)
                let unlisted = order.filter { !seen.contains($0) }
                if !unlisted.isEmpty {
                    try otherSends(unlisted[rng.next(unlisted.count)], "u\(pageSizes.count)")
                    if pageSizes.count % 3 == 0 { try aliceSends(unlisted[rng.next(unlisted.count)], "au\(pageSizes.count)") }
                }
                try otherSends(listed[rng.next(listed.count)], "l\(pageSizes.count)")
                if pageSizes.count == 5 {
                    // A room that did not exist at the first page: listed once too.
                    let id = try carol.createGroup("late", members: ["alice", "bob"])
                    rooms[id] = RoomState(kind: "hot", other: carol)
                    order.append(id)
                    late = id
                    try otherSends(id, "late-1")
                }
            } while pageSizes.count < 100
            print("conversations 251: setup \((setUp - began).milliseconds) ms, paging \((ContinuousClock.now - setUp).milliseconds) ms, pages \(pageSizes)")

            #expect(late != nil)
            #expect(mismatches.isEmpty, "\(mismatches)")
            #expect(listed.count == Set(listed).count, "rooms listed twice: \(Dictionary(grouping: listed, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted())")
            #expect(Set(listed) == Set(order), "missing: \(Set(order).subtracting(listed).sorted())")
            #expect(pageSizes == Array(repeating: 20, count: 12) + [11])
        }
    }

    /// A send that lands in the same millisecond as the first page's snapshot must not
    /// fall between the snapshot and the keyset (the race of the test above, made
    /// likely: retried until the send's `sent_at` equals the token's snapshot time).
    @Test func aRoomActiveInTheSameMillisecondAsTheFirstPageIsStillListed() throws {
        try TestServer.with(configure: Self.threshold(3)) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            var all: [Int64] = []
            for i in 0..<8 {
                all.append(i % 2 == 0 ? try bob.createGroup("g\(i)", members: ["alice"])
                                      : try bob.createGroup("h\(i)", members: ["alice", "carol"]))
            }
            let reader = try server.connect()
            let writer = try server.connect()
            var hits = 0
            var attempts = 0
            var offsets: [Int64: Int] = [:]
            while hits < 4 && attempts < 300 {
                attempts += 1
                // The least recently active room: not on the first page unless the send wins the race.
                let target = all[0]
                // Both requests on the wire before either answer is read: the send commits
                // just before or just after the first page's read, often in the same millisecond.
                reader.send("GET", "/v1/conversations?limit=3&preview=0", token: alice.token)
                writer.send("POST", "/v1/rooms/\(target)/messages", token: bob.token,
                            body: JSONValue.object([("client_msg_id", .string("race-\(attempts)")), ("body", ["text": "now"])]).serialized())
                let first = try reader.readResponse()
                let sent = try writer.readResponse()
                try #require(sent.status == 201 && first.status == 200, "\(sent.text) \(first.text)")
                all.removeAll { $0 == target }
                all.append(target)
                let ids = (first.json["conversations"]?.array ?? []).compactMap { $0["id"]?.int64Value }
                let token = try #require(first.json["next_page"]?.stringValue)
                let asOf = try #require(Conversations.PageToken.decode(token)).asOf
                let sentAt = try #require(sent.json["sent_at"]?.stringValue)
                for delta in -3...3 where Timestamp.rfc3339(asOf + Int64(delta)) == sentAt { offsets[Int64(delta), default: 0] += 1 }
                guard sentAt == Timestamp.rfc3339(asOf), !ids.contains(target) else { continue }
                hits += 1
                var listed = ids
                var page: String? = token
                while let p = page {
                    let r = try alice.get("/v1/conversations?limit=3&preview=0&page=\(p)")
                    listed += (r.json["conversations"]?.array ?? []).compactMap { $0["id"]?.int64Value }
                    page = r.json["next_page"]?.stringValue
                }
                #expect(listed.filter { $0 == target }.count == 1, "room \(target), active in the snapshot's millisecond, listed \(listed.filter { $0 == target }.count) times: \(listed)")
                #expect(Set(listed).count == 8 && listed.count == 8, "\(listed)")
            }
            print("same-millisecond race: sent_at - asOf (ms) -> count: \(offsets.sorted { $0.key < $1.key })")
            print("same-millisecond conversation race: \(hits) hits in \(attempts) attempts")
        }
    }

    // MARK: 5. a room turning hot under its members

    @Test func aRoomThatTurnsHotLosesAndDuplicatesNothingAcrossTheSwitch() throws {
        try TestServer.with(configure: Self.threshold(4)) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let dave = try server.createUser("dave", device: "phone")
            let c0 = try alice.conversationsCursor()
            let daveStart = try dave.conversationsCursor()
            let carolStart = try carol.conversationsCursor()
            let g = try bob.createGroup("crew", members: ["alice", "carol"])
            try bob.sendOK(g, "n1", "normal 1")
            try carol.sendOK(g, "n2", "normal 2")
            try bob.sendOK(g, "n3", "normal 3")
            #expect(try server.count("SELECT hot FROM rooms WHERE id = ?", [.integer(g)]) == 0)

            // A device halfway through the pre-switch messages.
            let half = try alice.pull(c0, limit: 2)
            #expect(Self.ordered(half.json["events"]?.array ?? []) == ["member:\(g):created:bob", "message:\(g):n1"])
            let c1 = try #require(half.json["cursor"]?.stringValue)

            try bob.addMembers(g, ["dave"])   // the 4th member: the room turns hot
            #expect(try server.count("SELECT hot FROM rooms WHERE id = ?", [.integer(g)]) == 1)
            #expect(try server.count("SELECT hot_since_seq FROM rooms WHERE id = ?", [.integer(g)]) == 3)
            try carol.sendOK(g, "h4", "hot 4")
            try bob.sendOK(g, "h5", "hot 5")
            try dave.sendOK(g, "h6", "hot 6")
            try alice.sendOK(g, "h7", "hot 7")

            // Before the switch through the inbox (3 members x 3 messages), after it none.
            #expect(try server.count("SELECT count(*) FROM inbox WHERE kind = 'message' AND room_id = ? AND room_seq <= 3", [.integer(g)]) == 9)
            #expect(try server.count("SELECT count(*) FROM inbox WHERE kind = 'message' AND room_id = ? AND room_seq > 3", [.integer(g)]) == 0)

            let tail = ["message:\(g):n2", "message:\(g):n3", "member:\(g):added:dave",
                        "message:\(g):h4", "message:\(g):h5", "message:\(g):h6", "message:\(g):h7"]
            let fromStart = try alice.pullAll(from: c0)
            #expect(Self.ordered(fromStart.events) == ["member:\(g):created:bob", "message:\(g):n1"] + tail)
            // The cursor taken before the switch (no hot positions) keeps working, page by page too.
            #expect(try Self.decode(c1).hot.isEmpty)
            let fromHalf = try alice.pullAll(from: c1)
            #expect(Self.ordered(fromHalf.events) == tail)
            let oneByOne = try alice.pullAll(from: c1, limit: 1)
            #expect(Self.ordered(oneByOne.events) == tail)
            #expect(oneByOne.hasMore.count == oneByOne.events.count, "one event per page")
            #expect(oneByOne.cursor == fromHalf.cursor)
            #expect(try Self.decode(fromHalf.cursor).hot[RoomID(g)] == 7)
            // Carol, who got the early messages through her inbox too, the same.
            let carolAll = try carol.pullAll(from: carolStart)
            #expect(Self.ordered(carolAll.events) == ["member:\(g):created:bob", "message:\(g):n1"] + tail)

            // Dave joined at the switch: the room from there on.
            let daveAll = try dave.pullAll(from: daveStart)
            #expect(Self.ordered(daveAll.events) == ["member:\(g):added:dave", "message:\(g):h4", "message:\(g):h5",
                                                  "message:\(g):h6", "message:\(g):h7"])

            // First screen and unread agree across the switch.
            let list = try alice.get("/v1/conversations")
            let conv = try #require(list.json["conversations"]?[0])
            #expect(conv["id"]?.int64Value == g)
            #expect(conv["last_seq"]?.int64Value == 7)
            #expect(conv["unread"]?.int64Value == 0)   // her own send read everything
            let carolList = try carol.get("/v1/conversations")
            #expect(carolList.json["conversations"]?[0]?["unread"]?.int64Value == 3)   // h5, h6, h7
            #expect(try alice.fullHistory(g, limit: 3).messages.count == 7)
        }
    }
}

/// A small deterministic generator, so a failing order can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextRaw() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(_ bound: Int) -> Int { Int(nextRaw() % UInt64(bound)) }
    mutating func shuffled<T>(_ a: [T]) -> [T] {
        var a = a
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, next(i + 1)) }
        return a
    }
}
