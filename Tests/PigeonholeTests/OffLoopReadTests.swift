import Foundation
import JSON
import PostgresBackend
import PostgresTestSupport
@testable import SyncAPI
import Testing

/// Reads are units of work off the event loops (ARCHITECTURE.md, "Concurrency"): a
/// request that needs no database is answered while every read waits on the database,
/// and pulls parked by one device at one position share one read.
@Suite(.timeLimit(.minutes(3)))
struct SharedPullTests {
    /// 40 pulls parked by one device at one cursor, woken by one send: every one gets
    /// the message, and the node made a handful of reads for them, not 40.
    @Test func parkedPullsOfOneDeviceAtOnePositionShareOneRead() throws {
        try TestServer.with(configure: { $0.api.waitsPerDevice = 0 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            _ = try bob.directRoom(with: "alice")
            let cursor = try alice.conversationsCursor()
            let count = 40
            // All 40 requests written before any is read, so they park together.
            let (pollers, answers, done) = try Self.park(count, pulls: alice, from: cursor, on: server)
            #expect(eventually { server.parkedPolls == count })
            let readsBefore = server.server.api.pulls.reads.count
            // The read threads held busy until every woken pull has asked: how many reads
            // then is sharing alone, not how fast the loops deliver the wake-ups.
            let gate = DispatchSemaphore(value: 0)
            let blockers = 16   // at least one per read thread; the rest queue behind them
            for _ in 0..<blockers { server.engine.read({ _ in gate.wait() }) { _ in } }

            // Not a message (a message's news carries it: no read at all, the next test):
            // alice is added to a group, a `member` event only a read can tell.
            let group = try bob.createGroup("wake-all", members: ["alice"])
            #expect(eventually { server.server.api.pulls.waiting == count })
            for _ in 0..<blockers { gate.signal() }
            for _ in 0..<count { #expect(done.wait(timeout: .now() + 5) == .success) }
            let all = answers.value
            #expect(all.count == count)
            for r in all {
                #expect(r.status == 200)
                let events = r.json["events"]?.array ?? []
                #expect(events.map { $0["type"]?.stringValue } == ["member"])
                #expect(events.first?["room_id"]?.int64Value == group)
            }
            #expect(Set(all.map { $0.json["cursor"]?.stringValue ?? "" }).count == 1)
            // Without sharing: 40. With it: one read, which every pull joined before it began.
            let reads = server.server.api.pulls.reads.count - readsBefore
            #expect(reads == 1)
            withExtendedLifetime(pollers) {}
        }
    }
}

extension SharedPullTests {
    /// `count` pulls of `device` from `cursor`, each on a connection of its own, all
    /// written before any answer is read; each answer is kept and signalled.
    static func park(_ count: Int, pulls device: TestDevice, from cursor: String, on server: TestServer) throws
        -> ([HTTPTestClient], Locked<[HTTPTestResponse]>, DispatchSemaphore) {
        let answers = Locked<[HTTPTestResponse]>([])
        let done = DispatchSemaphore(value: 0)
        var pollers: [HTTPTestClient] = []
        for _ in 0..<count {
            let poller = try server.connect(timeout: 15)
            pollers.append(poller)
            poller.send("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: device.token)
            Thread {
                if let r = try? poller.readResponse() { answers.withLock { $0.append(r) } }
                done.signal()
            }.start()
        }
        return (pollers, answers, done)
    }
}

extension SharedPullTests {
    /// A message's wake-up carries the message: 40 pulls parked by one device at the
    /// head are answered with it and no read at all, the page and cursor a read would give.
    @Test func parkedPullsAtTheHeadAreAnsweredFromTheMessageWithoutARead() throws {
        try TestServer.with(configure: { $0.api.waitsPerDevice = 0 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let cursor = try alice.conversationsCursor()
            let count = 40
            let (pollers, answers, done) = try Self.park(count, pulls: alice, from: cursor, on: server)
            #expect(eventually { server.parkedPolls == count })
            let readsBefore = server.server.api.pulls.reads.count
            #expect(try bob.send(room, "wake-all", "hello, all of you").status == 201)
            for _ in 0..<count { #expect(done.wait(timeout: .now() + 5) == .success) }
            let all = answers.value
            #expect(all.count == count)
            #expect(server.server.api.pulls.reads.count == readsBefore)
            #expect(server.server.api.pulls.answeredAtOnce.count == count)
            // What a read from the same cursor gives: the same event, the same cursor.
            let read = try alice.get("/v1/sync?cursor=\(cursor)&timeout=0")
            #expect(read.status == 200)
            for r in all {
                #expect(r.status == 200)
                #expect(r.json["events"] == read.json["events"])
                #expect(r.json["cursor"] == read.json["cursor"])
                #expect(r.json["has_more"]?.boolValue == false)
            }
            withExtendedLifetime(pollers) {}
        }
    }

    /// A read marker's wake-up carries its `read` event: the user's other device, parked
    /// at the head, is answered with it and no read, the page and cursor a read would
    /// give, byte for byte. (Each read marker woke every device of its user, and each
    /// read: in a busy mixed load a fifth of the reads.)
    @Test func aParkedPullIsAnsweredFromAReadMarkerWithoutARead() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            try bob.sendOK(room, "m1", "hello")
            try bob.sendOK(room, "m2", "are you there")
            let head = try laptop.pullAll(from: try laptop.conversationsCursor()).cursor

            let pull = try ParkedPull(laptop, on: server, cursor: head)
            #expect(eventually { server.parkedPolls == 1 })
            let reads = server.server.api.pulls.reads.count
            #expect(try phone.post("/v1/rooms/\(room)/read", ["seq": 2]).status == 200)
            let answer = try #require(pull.wait(5))
            #expect(server.server.api.pulls.reads.count == reads)
            #expect(server.server.api.pulls.answeredAtOnce.count == 1)
            let events = answer.json["events"]?.array ?? []
            #expect(events.count == 1)
            #expect(events.first?["type"]?.stringValue == "read")
            #expect(events.first?["read_seq"]?.int64Value == 2)
            let read = try laptop.get("/v1/sync?cursor=\(head)&timeout=0")
            #expect(answer.text == read.text)
        }
    }

    /// A pull whose cursor is at the head of the inbox and of every hot room parks
    /// without a first query (a 1,000-member room's members re-park after every message:
    /// that query was a third of the reads), and still wakes on the room's next message.
    @Test func aPullAtTheHeadOfAHotRoomParksWithoutAQuery() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            try server.createUser("carol")
            let room = try bob.createGroup("hot", members: ["alice", "carol"])
            try bob.sendOK(room, "h1", "first")
            let head = try alice.pullAll(from: try alice.conversationsCursor()).cursor
            #expect(try alice.pull(head).json["events"]?.array.isEmpty == true)

            let reads = server.server.api.pulls.reads.count
            let pull = try ParkedPull(alice, on: server, cursor: head)
            #expect(eventually { server.parkedPolls == 1 })
            #expect(server.server.api.pulls.reads.count == reads, "a pull at the head queried before parking")

            try bob.sendOK(room, "h2", "second")
            let answer = try #require(pull.wait(5))
            #expect(ReceivedMessage.from(answer.json["events"]?.array ?? []).map(\.clientMsgID) == ["h2"])
            // Nor after it: the room's news carried the message (one process: in commit order).
            #expect(server.server.api.pulls.reads.count == reads)
            #expect(server.server.api.pulls.answeredAtOnce.count == 1)
            let read = try alice.pull(head)
            #expect(answer.json["events"] == read.json["events"])
            #expect(answer.json["cursor"] == read.json["cursor"])

            // Removed from the room, then a message: the removal's news comes first, so
            // the pull reads (and gets the removal, not the message).
            let next = try ParkedPull(alice, on: server, cursor: try #require(read.json["cursor"]?.stringValue))
            #expect(eventually { server.parkedPolls == 1 })
            #expect(try bob.delete("/v1/rooms/\(room)/members/alice").status == 204)
            try bob.sendOK(room, "h3", "after alice left")
            let removed = try #require(next.wait(5))
            let types = (removed.json["events"]?.array ?? []).map { $0["type"]?.stringValue }
            #expect(types == ["member"], "\(removed.text)")
            let after = try alice.pullAll(from: try #require(removed.json["cursor"]?.stringValue))
            #expect(!ReceivedMessage.from(after.events).map(\.clientMsgID).contains("h3"))
        }
    }
}

/// One device holds at most `--waits-per-device` parked pulls and sockets on a node
/// (issue 20, item 3); a new one past the cap ends the device's oldest.
@Suite(.timeLimit(.minutes(3)))
struct DeviceWaitCapTests {
    @Test func aDevicePastItsCapOfWaitsEndsItsOldest() throws {
        try TestServer.with(configure: { $0.api.waitsPerDevice = 3 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let cursor = try alice.conversationsCursor()
            #expect(try alice.get("/v1/limits").json["waits_per_device_max"]?.int64Value == 3)

            var pulls: [ParkedPull] = []
            func park(_ device: TestDevice) throws { pulls.append(try ParkedPull(device, on: server, cursor: cursor, timeout: 15)) }

            for i in 1...3 {
                try park(alice)
                #expect(eventually { server.parkedPolls == i })
            }
            try park(laptop)   // another device's waits are its own
            #expect(eventually { server.parkedPolls == 4 })

            // The phone's fourth wait (a socket) ends its oldest: the first pull, answered
            // at once with an empty page and its cursor.
            let (socket, _) = try WebSocketTestClient.openReady(server, token: alice.token)
            let first = try #require(pulls[0].wait(3))
            #expect(first.status == 200)
            #expect(first.json["events"]?.array.isEmpty == true)
            #expect(first.json["cursor"]?.stringValue == cursor)
            #expect(server.parkedPolls == 3)

            // Two more pulls end the second and third pulls; a third more ends the socket.
            try park(alice)
            #expect(pulls[1].wait(3) != nil)
            try park(alice)
            #expect(pulls[2].wait(3) != nil)
            try park(alice)
            let close = try socket.readFrame(timeout: 3)
            #expect(close.opcode == WebSocketTestClient.Frame.close)
            #expect(close.payload.prefix(2) == [0x03, 0xF0])   // 1008
            // The laptop's pull is still parked, untouched; so are the phone's newest three.
            #expect(pulls[3].wait(0.2) == nil)
            #expect(server.parkedPolls == 4)
        }
    }
}

@Suite(.enabled(if: TestPostgres.serverURL != nil,
                "no PostgreSQL: set PIGEONHOLE_TEST_DATABASE_URL to a server's URL (.ci/run starts one)"),
       .timeLimit(.minutes(3)))
struct OffLoopReadTests {
    /// Another session holds an exclusive lock on `devices`, so every authenticated
    /// read waits on the database. Meanwhile `GET /v1/limits` (no database) answers at
    /// once on every loop; once the lock goes, the waiting requests answer too.
    @Test func requestsThatNeedNoDatabaseAnswerWhileReadsWaitOnIt() throws {
        try TestCluster.with(nodes: 1) { cluster in
            let node = cluster.nodes[0]
            let alice = try node.createUser("alice", device: "phone")
            let blocker = try PGConnection(url: cluster.database.url)
            defer { blocker.close() }
            try blocker.execute("BEGIN; LOCK TABLE devices IN ACCESS EXCLUSIVE MODE")

            // More waiting reads than loops and read threads: with reads on the loops,
            // every loop would be stuck behind one.
            let waiting = 6
            let answered = Locked<[Int]>([])
            let done = DispatchSemaphore(value: 0)
            var clients: [HTTPTestClient] = []
            for _ in 0..<waiting {
                let c = try node.connect(timeout: 20)
                clients.append(c)
                c.send("GET", "/v1/me", token: alice.token)
                Thread {
                    if let r = try? c.readResponse() { answered.withLock { $0.append(r.status) } }
                    done.signal()
                }.start()
            }
            // Every read thread of the node (its pool: 4) is waiting for the lock.
            let monitor = try PGConnection(url: cluster.database.url)
            defer { monitor.close() }
            #expect(try eventually(timeout: 5) {
                try monitor.queryOne("""
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                    """) { $0.int64(0) } == 4
            })
            #expect(answered.value.isEmpty, "a read answered through an exclusive lock")

            // Fresh connections land on every loop in turn.
            for _ in 0..<6 {
                let probe = try node.connect(timeout: 5)
                let started = ContinuousClock.now
                let r = try probe.get("/v1/limits")
                let took = ContinuousClock.now - started
                #expect(r.status == 200)
                #expect(took < .seconds(1), "GET /v1/limits took \(took) while reads waited on the database")
            }

            try blocker.execute("COMMIT")
            for _ in 0..<waiting { #expect(done.wait(timeout: .now() + 10) == .success) }
            #expect(answered.value == Array(repeating: 200, count: waiting))
            withExtendedLifetime(clients) {}
        }
    }
}
