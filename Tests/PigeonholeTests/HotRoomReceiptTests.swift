import Foundation
import JSON
import SQLiteStore
import SyncAPI
import SyncEngine
import Testing

/// Read receipts (issue 5) end to end: `GET /v1/rooms/{id}/receipts?seq=S` counts the
/// members other than the sender whose read marker reached S (names them in rooms under
/// 100 members), refuses non-members and seqs past the end; the sender's stream gets
/// coalesced `receipts` events, at most one per second (of the server's clock) per room
/// however many people read, the last one after the last read.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HotRoomReceiptTests {
    static func receipts(_ d: TestDevice, _ room: Int64, _ seq: Int64) throws -> (count: Int64?, readers: [String]?) {
        let r = try d.get("/v1/rooms/\(room)/receipts?seq=\(seq)")
        guard r.status == 200 else { throw TestFailure("receipts \(room)@\(seq): \(r.status) \(r.text)") }
        #expect(r.json["room_id"]?.int64Value == room)
        #expect(r.json["seq"]?.int64Value == seq)
        return (r.json["read_count"]?.int64Value, r.json["readers"].map { $0.array.compactMap(\.stringValue) })
    }

    /// Pulls `device`'s stream from `cursor` until a `receipts` event shows up or
    /// `timeout` passes; returns the events and the cursor after them. Each pull with
    /// nothing to return waits on the server (a long-poll, up to a second) for the next
    /// commit to the stream.
    static func awaitReceipts(_ device: TestDevice, from cursor: String, timeout: Double = 2.5) throws -> (events: [JSONValue], cursor: String) {
        var cursor = cursor
        var events: [JSONValue] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        repeat {
            let r = try device.get("/v1/sync?cursor=\(cursor)&timeout=1")
            guard r.status == 200, let next = r.json["cursor"]?.stringValue else { throw TestFailure("pull: \(r.status) \(r.text)") }
            events += r.json["events"]?.array ?? []
            cursor = next
            if events.contains(where: { $0["type"]?.stringValue == "receipts" }) { break }
        } while ContinuousClock.now < deadline
        return (events, cursor)
    }

    static let pendingSQL = "SELECT count(*) FROM receipt_marks WHERE room_id = ? AND pending = 1"

    @Test func countsAndReadersFollowTheReadMarkersAndNonMembersAndBadSeqsAreRefused() throws {
        let clocks = FakeClocks()   // the receipts window runs on the server's wall clock
        try TestServer.with(configure: { $0.api.clocks = clocks.clocks }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let dave = try server.createUser("dave", device: "phone")
            let eve = try server.createUser("eve", device: "phone")
            let room = try alice.createGroup("five", members: ["bob", "carol", "dave"])
            try alice.sendOK(room, "m1", "one")
            try alice.sendOK(room, "m2", "two")
            let full = try alice.get("/v1/rooms/\(room)/receipts?seq=1")
            #expect(full.json["sender"]?.stringValue == "alice")
            // Nobody but the sender has read yet (her own marker is at 2: not counted).
            #expect(try Self.receipts(bob, room, 1) == (0, []))
            #expect(try Self.receipts(alice, room, 2) == (0, []))

            let start = try alice.conversationsCursor()
            let bobStart = try bob.conversationsCursor()
            let (ws, _) = try WebSocketTestClient.openReady(server, token: alice.token)
            try bob.markRead(room, 1)
            #expect(try Self.receipts(alice, room, 1) == (1, ["bob"]))
            #expect(try Self.receipts(alice, room, 2) == (0, []))
            // The first change goes out at once: an event in the sender's stream and a hint
            // on her socket.
            let first = try Self.awaitReceipts(alice, from: start, timeout: 1)
            #expect(HotRoomTests.keys(first.events) == ["receipts:\(room)"])
            var frames: [WebSocketTestClient.Frame] = []
            while let f = try? ws.readNotification(timeout: 0.3) { frames.append(f) }
            #expect(frames.contains { $0.type == "receipts" && $0.json["room_id"]?.int64Value == room }, "\(frames)")

            try carol.markRead(room, 2)
            try carol.markRead(room, 2)   // not a move: changes nothing
            #expect(try Self.receipts(dave, room, 1) == (2, ["bob", "carol"]))
            #expect(try Self.receipts(dave, room, 2) == (1, ["carol"]))
            // The second change, within the window, is held (a pending mark, no event) until
            // a second after the first has passed on the server's clock: one millisecond
            // before, a further read (which emits what is due) still emits nothing ...
            #expect(try server.count(Self.pendingSQL, [.integer(room)]) == 1)
            clocks.advance(milliseconds: 999)
            try dave.markRead(room, 1)
            #expect(try server.count(Self.pendingSQL, [.integer(room)]) == 1)
            #expect(try alice.pullAll(from: first.cursor).events.isEmpty)
            // ... and once it has, the periodic flush emits it.
            clocks.advance(milliseconds: 1)
            let second = try Self.awaitReceipts(alice, from: first.cursor, timeout: 2.5)
            #expect(HotRoomTests.keys(second.events) == ["receipts:\(room)"])
            #expect(try server.count(Self.pendingSQL, [.integer(room)]) == 0)

            // Readers never get receipts of their own (bob sent nothing).
            let bobEvents = try bob.pullAll(from: bobStart).events
            #expect(!bobEvents.contains { $0["type"]?.stringValue == "receipts" }, "\(HotRoomTests.keys(bobEvents))")

            // A member who joins later starts with a marker at the join point: not a
            // reader of what was sent before (never saw it), a reader of what comes after
            // once read.
            try alice.addMembers(room, ["eve"])
            #expect(try Self.receipts(alice, room, 1) == (3, ["bob", "carol", "dave"]))
            try alice.sendOK(room, "m3", "three")
            try eve.markRead(room, 3)
            #expect(try Self.receipts(alice, room, 3) == (1, ["eve"]))
            #expect(try Self.receipts(alice, room, 2) == (1, ["carol"]))
            try alice.removeMember(room, "eve")

            // Refusals.
            expectError(try eve.get("/v1/rooms/\(room)/receipts?seq=1"), 403, "not_member")
            expectError(try alice.get("/v1/rooms/\(room)/receipts?seq=4"), 400, "seq_out_of_range")
            expectError(try alice.get("/v1/rooms/\(room)/receipts?seq=0"), 400, "invalid_request")
            expectError(try alice.get("/v1/rooms/\(room)/receipts"), 400, "invalid_request")
            expectError(try alice.get("/v1/rooms/\(room)/receipts?seq=abc"), 400, "invalid_request")
            expectError(try alice.get("/v1/rooms/999999/receipts?seq=1"), 404, "room_not_found")
            #expect(try alice.get("/v1/rooms/\(room)/receipts?seq=1").status == 200)
            #expect(try alice.client.get("/v1/rooms/\(room)/receipts?seq=1").status == 401)
        }
    }

    /// Replying reads what came before (sending moves your read_seq), so the
    /// count goes up; the sender should hear of it like of any other read.
    @Test func aReplyCountsAsReadAndTellsTheSender() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            let room = try alice.createGroup("three", members: ["bob", "carol"])
            try alice.sendOK(room, "q", "lunch?")
            let start = try alice.conversationsCursor()
            try bob.sendOK(room, "a", "yes")
            #expect(try Self.receipts(alice, room, 1) == (1, ["bob"]))
            let got = try Self.awaitReceipts(alice, from: start, timeout: 1.5)
            #expect(HotRoomTests.keys(got.events) == ["message:\(room):a", "receipts:\(room)"])
        }
    }

    @Test func fiveHundredReadsInABurstMakeAHandfulOfReceiptEventsTheLastAfterTheLastRead() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 500 }) { server in
            let names = ["alice"] + (1...500).map { "reader\($0)" }
            let users = try server.provisionUsers(names)
            let alice = users[0]
            let created = try alice.post("/v1/rooms", ["name": "stage", "members": .array(names.dropFirst().map { .string($0) })])
            #expect(created.status == 201, "\(created.text)")
            let room = try #require(created.json["id"]?.int64Value)
            #expect(try server.count("SELECT hot FROM rooms WHERE id = ?", [.integer(room)]) == 1)
            try alice.sendOK(room, "announce", "read me")
            let start = try alice.conversationsCursor()
            let (ws, _) = try WebSocketTestClient.openReady(server, token: alice.token)

            // 500 reads, from four connections at once.
            let port = server.port
            let failures = Locked<[String]>([])
            let began = ContinuousClock.now
            onThreads(4) { t in
                guard let client = try? HTTPTestClient(port: port, timeout: 10) else {
                    return failures.withLock { $0.append("thread \(t): no connection") }
                }
                for i in stride(from: 1 + t, through: 500, by: 4) {
                    do { try users[i].on(client).markRead(room, 1) } catch { failures.withLock { $0.append("\(error)") } }
                }
            }
            let burst = ContinuousClock.now - began
            #expect(failures.value.isEmpty, "\(failures.value.prefix(3))")

            let counted = try Self.receipts(alice, room, 1)
            #expect(counted.count == 500)
            #expect(counted.readers == nil, "no names above 100 members")

            // The sender's receipts events, once nothing is pending any more (the trailing
            // one may come a second or two after the burst).
            #expect(eventually(timeout: 4) { (try? server.count(Self.pendingSQL, [.integer(room)])) == 0 })
            let events = try alice.pullAll(from: start).events
            let waited = ContinuousClock.now - began
            let receipts = events.filter { $0["type"]?.stringValue == "receipts" }
            print("receipts burst: 500 reads in \(burst.milliseconds) ms -> \(receipts.count) receipts events (settled after \(waited.milliseconds) ms)")
            #expect(HotRoomTests.keys(events) == Array(repeating: "receipts:\(room)", count: events.count))
            #expect((1...5).contains(receipts.count), "\(receipts.count) receipts events")
            #expect(try server.count(Self.pendingSQL, [.integer(room)]) == 0, "a read never announced")

            // The last receipts event was committed after the last read.
            let aliceID = try #require(try server.userIDs()["alice"])
            let lastEvent = try server.count("SELECT max(created_at) FROM inbox WHERE user_id = ? AND kind = 'receipts' AND room_id = ?",
                                             [.integer(aliceID), .integer(room)])
            let lastRead = try server.count("SELECT max(created_at) FROM inbox WHERE kind = 'read' AND room_id = ?", [.integer(room)])
            #expect(lastEvent >= lastRead, "last receipts event at \(lastEvent), last read at \(lastRead)")

            // The socket hints as sparingly.
            var hints = 0
            while let f = try? ws.readNotification(timeout: 0.3) { if f.type == "receipts" { hints += 1 } }
            #expect((1...5).contains(hints), "\(hints) receipts hints on the socket")
        }
    }
}
