import Dispatch
import PostgresBackend
import PostgresTestSupport
import SyncEngine
import Testing

// Round trips of the write path on PostgreSQL (issue 19, "writes in a few round trips"),
// counted by the server: pg_stat_statements (preloaded by .ci/pg_cluster, track = top,
// so a server-side function call counts as one) gives the top-level statements run in
// the test's own database. A node's writer runs them one after another, so with the
// database across a network each is a round trip the send waits for.

@Suite(.enabled(if: postgresConfigured, noPostgres), .timeLimit(.minutes(3)))
struct PostgresRoundTripTests {
    /// One node on a fresh database, without the cluster listener and presence (their
    /// statements would be counted), an engine over it, and a connection that counts.
    final class Node: @unchecked Sendable {
        let database: TestPostgres.Database
        let store: PostgresSyncStore
        let harness: Harness
        private let counter: PGConnection

        init(clock: (@Sendable () -> Int64)? = nil, lockTimeoutMillis: Int = 50) throws {
            database = try TestPostgres.createDatabase()
            var options = PostgresSyncStore.Options(url: database.url, poolSize: 2, lockTimeoutMillis: lockTimeoutMillis)
            options.cluster = false
            store = try PostgresSyncStore(options)
            harness = try Harness(database: PostgresTestDatabase(database: database), store: store, clock: clock)
            counter = try PGConnection(url: database.url)
            try counter.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        }

        func close() {
            harness.reader.close()
            counter.close()
            store.stop()
            database.drop()
        }

        /// Top-level statements run in this database so far (the counting itself excluded).
        func statements() throws -> Int64 {
            try counter.queryOne("""
                SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND query NOT LIKE '%pg_stat_statements%'
                """) { $0.int64(0) } ?? 0
        }

        /// The statements `body` caused.
        func count(_ body: () throws -> Void) throws -> Int64 {
            let before = try statements()
            try body()
            return try statements() - before
        }

        /// `count` sends submitted at once (so the writer batches them), each from
        /// `senders[i % senders.count]` into `room`; waits for all and checks they stored.
        func sendAtOnce(_ count: Int, from senders: [TestUser], into room: RoomID, key: String) {
            let done = DispatchSemaphore(value: 0)
            let failures = Locked<[String]>([])
            let max = harness.engine.config.maxMessageBodyBytes
            for i in 0..<count {
                let sender = senders[i % senders.count]
                harness.engine.write({ try Messages.send($0, me: sender.principal, room: room, clientMsgID: "\(key)-\(i)",
                                                         body: "\"m\(i)\"", maxBodyBytes: max) }) { r in
                    if case .failure(let e) = r { failures.withLock { $0.append("\(e)") } }
                    if case .success(let s) = r, s.duplicate { failures.withLock { $0.append("duplicate") } }
                    done.signal()
                }
            }
            for _ in 0..<count { done.wait() }
            #expect(failures.value.isEmpty, "\(failures.value)")
        }
    }

    static func with(clock: (@Sendable () -> Int64)? = nil, _ body: (Node) throws -> Void) throws {
        let node = try Node(clock: clock)
        defer { node.close() }
        try body(node)
    }

    /// Users `prefix0...` created in one unit (no devices: they only receive).
    static func users(_ h: Harness, _ prefix: String, _ n: Int) throws -> [String] {
        let names = (0..<n).map { "\(prefix)\($0)" }
        _ = try h.write { ctx in for name in names { _ = try Accounts.createUser(ctx, name: name) } }.get()
        return names
    }

    /// Sends under load in a direct chat and in a group of 50: at most 3 statements per
    /// send on average (was about 15.8: a SAVEPOINT, a dozen statements per send, one
    /// touch per room and one pg_notify per payload per batch).
    @Test func sendsUnderLoadCostAtMostThreeStatementsEach() throws {
        try Self.with { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let dm = try h.direct(alice, bob)
            _ = try h.send(alice, dm, "warm-up").get()   // statements prepared on the writer's connection
            let n = 64
            let dmStatements = try node.count { node.sendAtOnce(n, from: [alice, bob], into: dm, key: "dm") }
            let perDM = Double(dmStatements) / Double(n)
            print("PostgresRoundTripTests: direct chat, \(n) sends at once: \(dmStatements) statements, \(perDM) per send")
            #expect(perDM <= 3, "\(dmStatements) statements for \(n) sends in a direct chat")

            var senders = [alice, bob]
            for i in 0..<8 { senders.append(try h.user("sender\(i)")) }
            let others = try Self.users(h, "member", 40)
            let group = try h.group(alice, "fifty", Array(senders.dropFirst())) // 10 senders
            _ = try h.write { [others] ctx in try Rooms.addMembers(ctx, me: alice.principal, room: group, names: others) }.get()
            #expect(try h.read { try $0.store.room(group) }?.memberCount == 50)
            let groupStatements = try node.count { node.sendAtOnce(n, from: senders, into: group, key: "group") }
            let perGroup = Double(groupStatements) / Double(n)
            print("PostgresRoundTripTests: group of 50, \(n) sends at once: \(groupStatements) statements, \(perGroup) per send")
            #expect(perGroup <= 3, "\(groupStatements) statements for \(n) sends in a group of 50")
        }
    }

    /// A send, a read marker, a join, a leave and an ack each cost a fixed number of
    /// statements, the same in a room of 200 as in a room of 2; a send alone in its batch
    /// is 5 (BEGIN, the send, the batch's member activity, its notify, COMMIT), a read
    /// marker, a join and a leave 4 each (BEGIN, the call, notify, COMMIT).
    @Test func writesCostTheSameWhateverTheRoomSize() throws {
        try Self.with { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let small = try h.group(alice, "two", [bob])
            let many = try Self.users(h, "m", 198)
            let big = try h.group(alice, "two hundred", [bob])
            _ = try h.write { [many] ctx in try Rooms.addMembers(ctx, me: alice.principal, room: big, names: many) }.get()
            #expect(try h.read { try $0.store.room(big) }?.memberCount == 200)
            let joiners = try Self.users(h, "joiner", 2)
            for room in [small, big] {   // warm-up: every statement prepared once
                _ = try h.send(bob, room, "warm-\(room.rawValue)").get()
                _ = try h.send(alice, room, "warm2-\(room.rawValue)").get()
            }

            var costs: [String: [Int64]] = [:]
            for (i, room) in [small, big].enumerated() {
                costs["send", default: []].append(try node.count { _ = try h.send(bob, room, "s\(i)").get() })
                let last = try #require(try h.read { try $0.store.room(room) }).lastSeq
                costs["read marker", default: []].append(try node.count {
                    _ = try h.write { try Conversations.markRead($0, me: alice.principal, room: room, seq: last) }.get()
                })
                let joiner = joiners[i]
                costs["join", default: []].append(try node.count {
                    _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: room, names: [joiner]) }.get()
                })
                costs["leave", default: []].append(try node.count {
                    _ = try h.write { try Rooms.removeMember($0, me: alice.principal, room: room, name: joiner) }.get()
                })
            }
            for (name, c) in costs.sorted(by: { $0.key < $1.key }) {
                print("PostgresRoundTripTests: \(name): \(c[0]) statements in a room of 2, \(c[1]) in a room of 200")
                #expect(c[0] == c[1], "\(name): \(c[0]) statements in a room of 2, \(c[1]) in a room of 200")
            }
            #expect(costs["send"]?[0] == 5)
            #expect(costs["read marker"]?[0] == 4)
            #expect(costs["join"]?[0] == 5)   // BEGIN, the joiners' room counts (the room cap), ph_add_members, notify, COMMIT
            #expect(costs["leave"]?[0] == 4)

            // An ack: BEGIN, the cursor's validation read, the device row's lock and its
            // update in one statement, COMMIT.
            let head = try #require(try h.read { try $0.store.inboxHead(user: alice.id) })
            let cursor = Cursor(user: alice.id, inboxSeq: head).encoded
            var moved = false
            let ack = try node.count {
                moved = try h.write { try Stream.ack($0, device: alice.principal.device, user: alice.id, cursor: cursor) }.get()
            }
            #expect(moved)
            print("PostgresRoundTripTests: ack: \(ack) statements")
            #expect(ack == 4)

            // The pulls' implicit acks of 20 devices: BEGIN, one statement, COMMIT.
            var devices: [DeviceID] = []
            for i in 0..<20 { devices.append(try h.device("alice", "d\(i)").principal.device) }
            for d in devices { h.engine.ackLater(device: d, cursor: Cursor(user: alice.id, inboxSeq: head)) }
            let flush = try node.count {
                let done = DispatchSemaphore(value: 0)
                h.engine.flushPullAcks { done.signal() }
                done.wait()
            }
            print("PostgresRoundTripTests: pull acks of 20 devices: \(flush) statements")
            #expect(flush == 3)
            try h.read { ctx throws in
                for d in devices { #expect(try ctx.store.storedAck(device: d)?.seq == head) }
            }
        }
    }

    /// The periodic receipts flush is one statement (BEGIN, the flush, notify, COMMIT),
    /// whether one room or twenty have pending marks (it was 4 per room plus one).
    @Test func theReceiptsFlushCostsTheSameWhateverTheRooms() throws {
        let clock = FakeClock()
        try Self.with(clock: clock.function) { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            var rooms: [RoomID] = []
            for i in 0..<21 { rooms.append(try h.group(alice, "r\(i)", [bob])) }
            for room in rooms {
                _ = try h.send(alice, room, "a\(room.rawValue)").get()
                _ = try h.send(bob, room, "b\(room.rawValue)").get()   // reads alice's: emitted at once
                _ = try h.send(alice, room, "c\(room.rawValue)").get()
                _ = try h.send(bob, room, "d\(room.rawValue)").get()   // inside the window: pending
            }
            _ = try h.write { try Receipts.flush($0) }.get()   // warm-up: nothing due yet
            clock.advance(by: h.engine.config.receiptsWindowMillis + 1)
            var pending = -1
            let many = try node.count { pending = try h.write { try Receipts.flush($0) }.get() }
            #expect(pending == 0)
            print("PostgresRoundTripTests: receipts flush of 21 rooms: \(many) statements")
            #expect(many == 4)
            let received = try h.read { try $0.store.inboxKeys(user: alice.id, after: 0, limit: 10_000) }.filter { $0.kind == .receipts }
            #expect(received.count == 21 * 2, "one per room at once, one per room from the flush")
        }
    }
}
