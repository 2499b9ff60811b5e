import Foundation
import PostgresBackend
import PostgresTestSupport
@testable import SyncAPI
import SyncEngine
import Testing

/// Several nodes (real servers on their own ports, each with its own PostgreSQL store,
/// writer, listener and presence) over one real PostgreSQL database: what a client sees
/// when a load balancer spreads its devices over them. Skipped (with the reason) where
/// no PostgreSQL is configured; `.ci/run` starts one.
final class TestCluster {
    let database: TestPostgres.Database
    let nodes: [TestServer]

    init(nodes count: Int, configure: (inout PigeonholeServer.Configuration) -> Void = { _ in },
         store: (inout PostgresSyncStore.Options) -> Void = { _ in }) throws {
        database = try TestPostgres.createDatabase()
        var nodes: [TestServer] = []
        do {
            for _ in 0..<count {
                var options = PostgresSyncStore.Options(url: database.url, poolSize: 4)
                options.presenceIntervalMillis = 100
                store(&options)
                nodes.append(try TestServer(directory: "", databasePath: database.url, store: try PostgresSyncStore(options),
                                            configure: configure))
            }
        } catch {
            for n in nodes { n.shutdown() }
            database.drop()
            throw error
        }
        self.nodes = nodes
    }

    func shutdown() {
        for n in nodes { n.shutdown() }
        database.drop()
    }

    static func with<T>(nodes: Int, configure: (inout PigeonholeServer.Configuration) -> Void = { _ in },
                        store: (inout PostgresSyncStore.Options) -> Void = { _ in },
                        _ body: (TestCluster) throws -> T) throws -> T {
        let cluster = try TestCluster(nodes: nodes, configure: configure, store: store)
        defer { cluster.shutdown() }
        return try body(cluster)
    }

    /// Ends database sessions of this cluster's database (the server terminates their
    /// backends, as when it restarts): those of `application` (e.g. the listeners), or
    /// all but the caller's. Returns how many were cut.
    @discardableResult
    func cutSessions(application: String? = nil) throws -> Int {
        let admin = try PGConnection(url: database.url)
        defer { admin.close() }
        var filter = "pid <> pg_backend_pid()"
        var params: [PGValue] = []
        if let application {
            filter += " AND application_name = $1"
            params.append(.text(application))
        }
        return try admin.query("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND \(filter)
            """, params)
    }

    /// Every node's listener is connected (news sent from now on reaches all of them).
    func listening() -> Bool {
        eventually(timeout: 5) { nodes.allSatisfy { ($0.engine.store as! PostgresSyncStore).listening } }
    }
}

/// A `GET /v1/sync?timeout=...` running on a thread of its own.
final class ParkedPull {
    private let done = DispatchSemaphore(value: 0)
    private let answer = Locked<HTTPTestResponse?>(nil)

    init(_ device: TestDevice, on node: TestServer, cursor: String, timeout: Int = 10) throws {
        let client = try node.connect(timeout: Double(timeout) + 5)
        let token = device.token
        let (answer, done) = (self.answer, self.done)
        Thread.detachNewThread {
            let r = try? client.get("/v1/sync?cursor=\(cursor)&timeout=\(timeout)", token: token)
            answer.withLock { $0 = r }
            done.signal()
        }
    }

    /// The answer, waiting at most `seconds`.
    func wait(_ seconds: Double) -> HTTPTestResponse? {
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return answer.value
    }
}

@Suite(.enabled(if: TestPostgres.serverURL != nil,
                "no PostgreSQL: set PIGEONHOLE_TEST_DATABASE_URL to a server's URL (.ci/run starts one)"),
       .timeLimit(.minutes(2)))
struct MultiNodeTests {
    /// Three nodes. The writer sends on each node in turn; the reader has a parked pull
    /// and an open socket on every node. Every send wakes the pulls and sockets on the
    /// other two nodes, and every pull device receives every message exactly once, in
    /// order, continuing with its own cursor.
    @Test func aSendOnEachNodeWakesParkedPullsAndSocketsOnTheOtherNodes() throws {
        try TestCluster.with(nodes: 3) { cluster in
            let nodes = cluster.nodes
            try nodes[0].createUser("writer")
            try nodes[0].createUser("reader")
            let writers = try nodes.indices.map { try nodes[$0].createDevice("writer", "w\($0)") }
            let pullers = try nodes.indices.map { try nodes[$0].createDevice("reader", "pull\($0)") }
            let socketDevices = try nodes.indices.map { try nodes[$0].createDevice("reader", "socket\($0)") }
            let room = try writers[0].directRoom(with: "reader")
            #expect(cluster.listening())
            var cursors = try pullers.map { try $0.conversationsCursor() }
            let sockets = try nodes.indices.map { i in
                try WebSocketTestClient.openReady(port: nodes[i].port, token: socketDevices[i].token).0
            }
            var received: [[ReceivedMessage]] = Array(repeating: [], count: nodes.count)
            var sent: [String] = []
            for round in 0..<2 {
                for n in nodes.indices {
                    let pulls = try nodes.indices.map { i in try ParkedPull(pullers[i], on: nodes[i], cursor: cursors[i]) }
                    for node in nodes { #expect(eventually(timeout: 5) { node.parkedPolls == 1 }) }
                    let key = "r\(round)-n\(n)"
                    _ = try writers[n].sendOK(room, key, "from node \(n)")
                    sent.append(key)
                    for i in nodes.indices {
                        let answer = try #require(pulls[i].wait(5), "the pull on node \(i) was not woken by a send on node \(n)")
                        #expect(answer.status == 200)
                        let messages = ReceivedMessage.from(answer.json["events"]?.array ?? [])
                        #expect(messages.map(\.clientMsgID) == [key], "node \(i) after a send on node \(n)")
                        received[i] += messages
                        cursors[i] = try #require(answer.json["cursor"]?.stringValue)
                    }
                    for (i, socket) in sockets.enumerated() {
                        let mail = try socket.readNotification(timeout: 5)
                        #expect(mail.text.contains("\"mail\""), "socket on node \(i) after a send on node \(n): \(mail.text)")
                    }
                }
            }
            for i in nodes.indices {
                #expect(received[i].map(\.clientMsgID) == sent, "pull device on node \(i)")
                #expect(received[i].map(\.seq) == Array(1...Int64(sent.count)))
            }
        }
    }

    /// One device moves between nodes: a cursor taken on one node is valid on the
    /// others, and an ack stored through one node is where a cursor-less pull on
    /// another resumes.
    @Test func aDeviceContinuesOnAnotherNodeWithItsCursorAndItsAck() throws {
        try TestCluster.with(nodes: 3) { cluster in
            let (a, b, c) = (cluster.nodes[0], cluster.nodes[1], cluster.nodes[2])
            let alice = try a.createUser("alice", device: "phone")
            let bob = try a.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let start = try bob.conversationsCursor()
            for k in 1...5 { _ = try alice.sendOK(room, "m\(k)", "message \(k)") }

            // Bob's phone: the first three on node A, acked there.
            let first = try bob.pull(start, limit: 3)
            let cursor = try #require(first.json["cursor"]?.stringValue)
            #expect(ReceivedMessage.from(first.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1", "m2", "m3"])
            #expect(try bob.ack(cursor).status == 204)

            // The same token on node B with the cursor from node A: the rest, once.
            let phoneOnB = TestDevice(user: "bob", name: "phone", id: bob.id, token: bob.token, client: try b.connect())
            let rest = try phoneOnB.pullAll(from: cursor)
            #expect(ReceivedMessage.from(rest.events).map(\.clientMsgID) == ["m4", "m5"])

            // On node C without a cursor: resumes after the ack made through node A.
            let phoneOnC = TestDevice(user: "bob", name: "phone", id: bob.id, token: bob.token, client: try c.connect())
            let resumed = try phoneOnC.get("/v1/sync?timeout=0")
            #expect(resumed.status == 200)
            #expect(ReceivedMessage.from(resumed.json["events"]?.array ?? []).map(\.clientMsgID) == ["m4", "m5"])
        }
    }

    /// Revoking a device through node A ends its parked pull and its socket on node B at
    /// once (the revocation is part of the cluster broadcast).
    @Test func aDeviceRevokedOnOneNodeLosesItsPullAndSocketOnAnother() throws {
        try TestCluster.with(nodes: 2) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            try b.createUser("alice")
            let phone = try b.createDevice("alice", "phone")
            let laptop = try b.createDevice("alice", "laptop")
            #expect(cluster.listening())
            let (phoneSocket, _) = try WebSocketTestClient.openReady(port: b.port, token: phone.token)
            let (laptopSocket, _) = try WebSocketTestClient.openReady(port: b.port, token: laptop.token)
            let pull = try ParkedPull(phone, on: b, cursor: try phone.conversationsCursor(), timeout: 20)
            #expect(eventually { b.parkedPolls == 1 })

            let started = ContinuousClock.now
            #expect(try a.admin.delete("/v1/admin/devices/\(phone.id)", token: TestServer.adminToken).status == 204)
            let answer = pull.wait(3)
            #expect(answer?.status == 401)
            #expect(ContinuousClock.now - started < .seconds(2))
            let close = try phoneSocket.readFrame(timeout: 2)
            #expect(close.opcode == WebSocketTestClient.Frame.close)
            #expect(close.payload.prefix(2) == [0x03, 0xF0])
            #expect(laptopSocket.staysSilent(for: 0.2))
        }
    }

    /// The listener's connection is cut while a pull is parked on node B: the send on
    /// node A that B did not hear about still reaches the pull, because B reconnects
    /// and wakes every waiter to query again.
    @Test func aDroppedListenerReconnectsAndLosesNoWakeUp() throws {
        try TestCluster.with(nodes: 2) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let alice = try a.createUser("alice", device: "phone")
            try a.createUser("bob")
            let bobOnB = try b.createDevice("bob", "phone")
            let room = try alice.directRoom(with: "bob")
            #expect(cluster.listening())
            let pull = try ParkedPull(bobOnB, on: b, cursor: try bobOnB.conversationsCursor(), timeout: 20)
            #expect(eventually { b.parkedPolls == 1 })

            // Cut the listeners (B's for sure; A's own news never needs its listener),
            // then send on A at once.
            #expect(try cluster.cutSessions(application: "pigeonhole-listener") == 2)
            _ = try alice.sendOK(room, "while-deaf", "sent while a listener was away")
            let answer = try #require(pull.wait(10), "the parked pull on the deaf node was never woken")
            #expect(ReceivedMessage.from(answer.json["events"]?.array ?? []).map(\.clientMsgID) == ["while-deaf"])
            #expect(cluster.listening())
        }
    }

    /// Control characters in paths and queries get the same 400s as on SQLite (libpq
    /// would cut a NUL short: `/v1/direct/bob%00x` answered bob's room).
    /// Issue 20, item 5: one device alternating between two nodes gets what one node
    /// would give it, not twice that: 10 sends of a burst of 10 (the clock stands still),
    /// 3 group creations of a burst of 3; after a second, one more send, whichever node.
    @Test func rateLimitsHoldForTheClusterAsAWhole() throws {
        let time = FakeClocks()
        try TestCluster.with(nodes: 2, configure: {
            $0.api.sendRatePerSecond = 1; $0.api.sendBurst = 10
            $0.api.roomRatePerSecond = 1; $0.api.roomBurst = 3
            $0.api.clocks = time.clocks
        }) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            try a.createUser("alice")
            try a.createUser("bob")
            let onA = try a.createDevice("alice", "phone")
            let onB = TestDevice(user: "alice", name: "phone", id: onA.id, token: onA.token, client: try b.connect())
            let room = try onA.directRoom(with: "bob")   // one room token
            var sent: [Int] = []
            for i in 0..<30 { sent.append(try (i % 2 == 0 ? onA : onB).send(room, "m\(i)", "hi").status) }
            #expect(sent.filter { $0 == 201 }.count == 10, "\(sent)")
            #expect(sent.allSatisfy { $0 == 201 || $0 == 429 }, "\(sent)")
            let limited = try onB.send(room, "over", "x")
            #expect(limited.status == 429)
            #expect(limited.json["error"]?["retry_after_ms"]?.intValue == 1000)
            var groups: [Int] = []
            for i in 0..<6 {
                groups.append(try (i % 2 == 0 ? onB : onA).post("/v1/rooms", ["name": .string("g\(i)"), "members": []]).status)
            }
            #expect(groups.filter { $0 == 201 }.count == 2, "2 of the burst of 3 left after the direct room: \(groups)")
            time.advance(milliseconds: 1000)
            #expect(try onB.send(room, "later-1", "x").status == 201)
            #expect(try onA.send(room, "later-2", "x").status == 429)
            // What was refused was not stored: the 10, then 1.
            let history = try onA.get("/v1/rooms/\(room)/messages?limit=100")
            #expect(history.json["messages"]?.array.count == 11)
        }
    }

    @Test func controlCharactersAreRefusedAsOnSQLite() throws {
        try TestCluster.with(nodes: 1) { cluster in try ControlCharacterChecks.run(cluster.nodes[0]) }
    }

    /// A device whose token node A has resolved (and cached) is revoked through node B:
    /// node A refuses its next write as soon as B's news arrives (a few milliseconds).
    @Test func aDeviceRevokedOnOneNodeCannotWriteOnAnother() throws {
        try TestCluster.with(nodes: 2) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            try a.createUser("alice")
            try a.createUser("bob")
            let onA = try a.createDevice("alice", "phone")
            let room = try onA.directRoom(with: "bob")
            #expect(try onA.send(room, "a-1", "one").status == 201)
            #expect(try onA.send(room, "a-2", "two").status == 201)
            #expect(a.engine.principals.count >= 1)
            #expect(try b.admin.delete("/v1/admin/devices/\(onA.id)", token: TestServer.adminToken).status == 204)
            var n = 0
            #expect(try eventually(timeout: 2) {
                n += 1
                return try onA.send(room, "after-\(n)", "still here?").status == 401
            })
            // The refused send was not stored.
            let history = try b.createDevice("bob", "laptop").get("/v1/rooms/\(room)/messages?limit=100")
            let ids = (history.json["messages"]?.array ?? []).compactMap { $0["client_msg_id"]?.stringValue }
            #expect(ids.contains("a-2") && !ids.contains("after-\(n)"))
        }
    }

    /// A revocation made through node A while node B's listener is away still reaches
    /// B: after reconnecting, B has every waiter check its token again, so the revoked
    /// device's parked pull gets 401 and its socket closes.
    @Test func aRevocationMissedByADroppedListenerStillEndsThePullAndSocket() throws {
        try TestCluster.with(nodes: 2) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            try b.createUser("alice")
            let phone = try b.createDevice("alice", "phone")
            #expect(cluster.listening())
            let (socket, _) = try WebSocketTestClient.openReady(port: b.port, token: phone.token)
            let pull = try ParkedPull(phone, on: b, cursor: try phone.conversationsCursor(), timeout: 20)
            #expect(eventually { b.parkedPolls == 1 })

            // Cut the listeners (B's for sure; A's own news never needs its listener).
            #expect(try cluster.cutSessions(application: "pigeonhole-listener") == 2)
            #expect(try a.admin.delete("/v1/admin/devices/\(phone.id)", token: TestServer.adminToken).status == 204)
            #expect(pull.wait(10)?.status == 401)
            #expect(socket.isClosedByPeer(timeout: 10) || (try? socket.readFrame(timeout: 1).opcode) == WebSocketTestClient.Frame.close)
        }
    }

    /// Presence spans the nodes: a user with a parked pull on node B is online for node
    /// A's sends (no push queued), and offline again once the pull ends (a push queued).
    /// Each push goes to the webhook exactly once although both nodes run a dispatcher.
    @Test func pushesGoOnlyToUsersOnlineOnNoNodeAndEachIsDeliveredOnce() throws {
        let hook = try WebhookReceiver()
        defer { hook.stop() }
        try TestCluster.with(nodes: 2, configure: PushOutboxTests.configure(hook)) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let alice = try a.createUser("alice", device: "phone")
            try a.createUser("bob")
            let bobOnB = try b.createDevice("bob", "phone")
            let room = try alice.directRoom(with: "bob")
            let bobID = try bobOnB.userID()

            let pull = try ParkedPull(bobOnB, on: b, cursor: try bobOnB.conversationsCursor(), timeout: 20)
            #expect(eventually { b.parkedPolls == 1 })
            #expect(eventually(timeout: 5) { a.engine.presence.isOnline(UserID(bobID)) }, "node A never saw bob online on node B")
            _ = try alice.sendOK(room, "online", "bob is connected on node B")
            #expect(pull.wait(5)?.status == 200)
            // No push queued by the send (see PushOutboxTests.anOnlineMemberGetsNoPush).
            let outbox = try a.admin.get("/v1/admin/pushes", token: TestServer.adminToken).json
            #expect(outbox["pending"]?.intValue == 0 && outbox["dead_total"]?.intValue == 0, "\(outbox.serializedString)")
            #expect(hook.requestCount == 0)

            // Bob is gone from every node: sends from either node queue one push each.
            #expect(eventually(timeout: 5) { !a.engine.presence.isOnline(UserID(bobID)) })
            let offlineKeys = (0..<20).map { "offline-\($0)" }
            for (k, key) in offlineKeys.enumerated() {
                let sender = k % 2 == 0 ? alice : TestDevice(user: "alice", name: "phone", id: alice.id, token: alice.token,
                                                             client: try b.connect())
                _ = try sender.sendOK(room, key, "bob is offline")
            }
            #expect(eventually(timeout: 10) { hook.acceptedIDs.count >= offlineKeys.count })
            // Both dispatchers stopped (each after recording the delivery it was making):
            // whatever either had claimed has reached the webhook, and nothing more will.
            for node in cluster.nodes { node.server.pushes?.stop() }
            #expect(try a.admin.get("/v1/admin/pushes", token: TestServer.adminToken).json["pending"]?.intValue == 0)
            let ids = hook.acceptedIDs
            #expect(ids.count == offlineKeys.count, "each push delivered once: \(ids.count) deliveries")
            #expect(Set(ids).count == ids.count)
        }
    }

    /// Every connection of a node to the database is cut (as when PostgreSQL restarts):
    /// requests fail with a clean 503 while it lasts, nothing acknowledged is lost, and
    /// the node reconnects by itself (writer, read pool, listener) and serves again.
    @Test func aNodeRecoversAfterItsDatabaseConnectionsAreCut() throws {
        try TestCluster.with(nodes: 2) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let alice = try a.createUser("alice", device: "phone")
            try a.createUser("bob")
            let bobOnB = try b.createDevice("bob", "phone")
            let room = try alice.directRoom(with: "bob")
            let start = try bobOnB.conversationsCursor()
            _ = try alice.sendOK(room, "before", "before the cut")

            // Each node's writer, listener, presence and read connections.
            #expect(try cluster.cutSessions() >= 6)

            // Every answer is 201 or a clean 503 with Retry-After; the node comes back.
            var acknowledged = ["before"]
            var outcomes: [Int] = []
            for k in 0..<20 {
                let r = try alice.send(room, "after-\(k)", "after the cut")
                outcomes.append(r.status)
                if r.status == 201 { acknowledged.append("after-\(k)") } else {
                    #expect(r.status == 503 && r.json["error"]?["code"]?.stringValue == "storage_unavailable")
                    #expect(r.header("Retry-After") != nil)
                }
            }
            #expect(outcomes.suffix(10).allSatisfy { $0 == 201 }, "\(outcomes)")
            #expect(eventually(timeout: 5) { (try? a.admin.get("/healthz").status) == 200 })
            #expect(cluster.listening())

            // Node B serves every acknowledged message exactly once, in order.
            var got: [String] = []
            #expect(eventually(timeout: 5) {
                got = (try? bobOnB.pullAll(from: start)).map { ReceivedMessage.from($0.events).map(\.clientMsgID) } ?? []
                return got == acknowledged
            }, "\(got) vs \(acknowledged)")
        }
    }
}
