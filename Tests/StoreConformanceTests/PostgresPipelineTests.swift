import Dispatch
import Glibc
import PostgresBackend
import PostgresTestSupport
import SyncEngine
import Testing

// The PostgreSQL writer pipelines a batch (GroupCommitWriter+Pipeline.swift): every
// unit's first statement goes out in one round trip. These tests hold the writer so the
// units they submit form one batch, and check what a client would: the batch's round
// trips, and that every unit saw the database as if the units had run one after another.

@Suite(.enabled(if: postgresConfigured, noPostgres), .timeLimit(.minutes(3)))
struct PostgresPipelineTests {
    /// One writer (so the held units are one batch), no cluster listener.
    final class Node: @unchecked Sendable {
        let database: TestPostgres.Database
        let store: PostgresSyncStore
        let harness: Harness

        init(sendBatches: Bool = true, config: EngineConfiguration = EngineConfiguration(),
             lockTimeoutMillis: Int = 50) throws {
            database = try TestPostgres.createDatabase()
            var options = PostgresSyncStore.Options(url: database.url, poolSize: 2, lockTimeoutMillis: lockTimeoutMillis)
            options.cluster = false
            options.writers = 1
            options.sendBatches = sendBatches
            store = try PostgresSyncStore(options)
            harness = try Harness(database: PostgresTestDatabase(database: database), store: store, config: config)
        }

        func close() {
            harness.reader.close()
            store.stop()
            database.drop()
        }

        /// Holds the writer inside a batch of its own while `submit` queues units, then lets
        /// it go: the queued units are its next batch. Returns the writer's round trips
        /// and fallbacks before that batch (read on the writer thread, in the holding
        /// unit's completion, so the next batch has not begun).
        func asOneBatch(_ submit: () -> Void) -> (roundTrips: Int, fallbacks: Int) {
            let hold = DispatchSemaphore(value: 0)
            let held = DispatchSemaphore(value: 0)
            let before = Locked<(Int, Int)>((0, 0))
            let released = DispatchSemaphore(value: 0)
            let store = self.store
            store.submit({ _ in
                held.signal()
                hold.wait()
            }, affinity: nil) { _ in
                let s = store.stats
                before.withLock { $0 = (s.roundTrips, s.pipelineFallbacks) }
                released.signal()
            }
            held.wait()
            submit()
            hold.signal()
            released.wait()
            return before.value
        }
    }

    static func with(_ body: (Node) throws -> Void) throws {
        let node = try Node()
        defer { node.close() }
        try body(node)
    }

    /// Waits for `count` completions counted by `done`.
    static func wait(_ done: DispatchSemaphore, _ count: Int) { for _ in 0..<count { done.wait() } }

    /// 48 sends in one batch: BEGIN, one pipeline (the sends in one call), then the member
    /// activity, the notify and COMMIT in one query (3 round trips; one per send before),
    /// stored in the order submitted.
    @Test func aBatchOfSendsIsAFewRoundTrips() throws {
        try Self.with { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "pipelined", [bob])
            // The statements prepared on the writer's connection: a send alone, and sends
            // merged into one call (SendBatches.swift).
            _ = try h.send(alice, room, "warm-up").get()
            let warm = DispatchSemaphore(value: 0)
            _ = node.asOneBatch {
                for key in ["warm-up-2", "warm-up-3"] {
                    h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: key,
                                                       body: "\"w\"", maxBodyBytes: h.engine.config.maxMessageBodyBytes) }) { _ in
                        warm.signal()
                    }
                }
            }
            Self.wait(warm, 2)
            let n = 48
            let done = DispatchSemaphore(value: 0)
            let seqs = Locked<[Int: Int64]>([:])
            let max = h.engine.config.maxMessageBodyBytes
            let before = node.asOneBatch {
                for i in 0..<n {
                    let sender = i % 2 == 0 ? alice : bob
                    h.engine.write({ try Messages.send($0, me: sender.principal, room: room, clientMsgID: "p\(i)",
                                                       body: "\"m\(i)\"", maxBodyBytes: max) }) { r in
                        if case .success(let s) = r { seqs.withLock { $0[i] = s.message.seq } }
                        done.signal()
                    }
                }
            }
            Self.wait(done, n)
            let after = node.store.stats
            let trips = after.roundTrips - before.roundTrips
            print("PostgresPipelineTests: \(n) sends in one batch: \(trips) round trips")
            #expect(trips <= 3, "\(trips) round trips for \(n) sends in one batch")
            #expect(after.pipelineFallbacks == before.fallbacks)
            let got = seqs.value
            #expect(got.count == n)
            #expect((0..<n).compactMap { got[$0] } == Array(4...Int64(n + 3)), "gapless, in the order submitted")
        }
    }

    /// A unit that reads the room's last seq and then sends, between two sends of one
    /// batch: its read must see the send before it and not the one after (as if run one
    /// after another), so its message is the next seq after what it read. The first time
    /// it makes the batch run again unpipelined; then the writer knows such a unit ends
    /// its round, and no batch runs twice.
    @Test func aUnitThatGoesOnAfterItsFirstStatementIsNotOvertaken() throws {
        try Self.with { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "reads then sends", [bob])
            _ = try h.send(alice, room, "warm-up").get()
            let max = h.engine.config.maxMessageBodyBytes
            let fallbacks = Locked<[Int]>([])
            for round in 0..<2 {
                let done = DispatchSemaphore(value: 0)
                let seen = Locked<(read: Int64, sent: Int64)?>(nil)
                let before = node.asOneBatch {
                    h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: "a\(round)",
                                                       body: "\"a\"", maxBodyBytes: max) }) { _ in done.signal() }
                    node.store.submit({ w -> (Int64, Int64) in
                        guard let read = try w.room(room)?.lastSeq else { throw SyncError.roomNotFound }
                        let request = SendRequest(room: room, sender: bob.id, device: bob.principal.device,
                                                  clientMsgID: "u\(round)", body: "\"u\"", at: 1, receiptsDueBy: 0)
                        guard case .appended(let sent) = try w.sendMessage(request) else { throw SyncError.notMember }
                        return (read, sent.seq)
                    }, affinity: nil) { r in
                        if case .success(let v) = r { seen.withLock { $0 = (v.0, v.1) } }
                        done.signal()
                    }
                    h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: "b\(round)",
                                                       body: "\"b\"", maxBodyBytes: max) }) { _ in done.signal() }
                }
                Self.wait(done, 3)
                let unit = try #require(seen.value, "the unit committed")
                #expect(unit.sent == unit.read + 1, "round \(round): read \(unit.read), sent at \(unit.sent)")
                fallbacks.withLock { $0.append(node.store.stats.pipelineFallbacks - before.fallbacks) }
            }
            #expect(fallbacks.value == [1, 0], "\(fallbacks.value)")
            let last = try #require(try h.read { try $0.store.room(room) }).lastSeq
            #expect(last == 7, "a warm-up and two batches of three sends")
        }
    }

    /// A unit that asks another first question when run again than when probed (here: a
    /// counter picks the name it looks up) is answered for the question it asked last,
    /// and from then on such a unit runs alone: again, no batch runs twice.
    @Test func aUnitThatChangesItsFirstStatementIsAnsweredRight() throws {
        try Self.with { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "solo", [bob])
            _ = try h.send(alice, room, "warm-up").get()
            let max = h.engine.config.maxMessageBodyBytes
            let fallbacks = Locked<[Int]>([])
            for round in 0..<2 {
                let done = DispatchSemaphore(value: 0)
                let runs = Locked(0)
                let answer = Locked<(asked: String, found: String?)?>(nil)
                let before = node.asOneBatch {
                    h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: "x\(round)",
                                                       body: "\"x\"", maxBodyBytes: max) }) { _ in done.signal() }
                    node.store.submit({ w -> (String, String?) in
                        let asked = runs.withLock { n -> String in
                            n += 1
                            return n % 2 == 1 ? "alice" : "bob"
                        }
                        return (asked, try w.user(named: asked)?.name)
                    }, affinity: nil) { r in
                        if case .success(let v) = r { answer.withLock { $0 = (v.0, v.1) } }
                        done.signal()
                    }
                    h.engine.write({ try Messages.send($0, me: bob.principal, room: room, clientMsgID: "y\(round)",
                                                       body: "\"y\"", maxBodyBytes: max) }) { _ in done.signal() }
                }
                Self.wait(done, 3)
                let a = try #require(answer.value)
                #expect(a.found == a.asked, "round \(round): asked \(a.asked), found \(a.found ?? "nothing")")
                fallbacks.withLock { $0.append(node.store.stats.pipelineFallbacks - before.fallbacks) }
            }
            #expect(fallbacks.value == [1, 0], "\(fallbacks.value)")
        }
    }

    /// A unit that asks for a statement when probed and for none when run again (a
    /// counter picks): the statement ran in the pipeline, so the batch runs again
    /// unpipelined, and what is stored is what the unit says it did.
    @Test func aPrefetchedStatementTheUnitNoLongerAsksForIsUndone() throws {
        try Self.with { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "unasked", [bob])
            _ = try h.send(alice, room, "warm-up").get()
            let max = h.engine.config.maxMessageBodyBytes
            let done = DispatchSemaphore(value: 0)
            let runs = Locked(0)
            let said = Locked<Bool?>(nil)
            let before = node.asOneBatch {
                h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: "x",
                                                   body: "\"x\"", maxBodyBytes: max) }) { _ in done.signal() }
                node.store.submit({ w -> Bool in
                    let n = runs.withLock { n -> Int in n += 1; return n }
                    guard n % 2 == 1 else { return false }   // the second run sends nothing
                    let request = SendRequest(room: room, sender: bob.id, device: bob.principal.device,
                                              clientMsgID: "maybe", body: "\"m\"", at: 1, receiptsDueBy: 0)
                    guard case .appended = try w.sendMessage(request) else { throw SyncError.notMember }
                    return true
                }, affinity: nil) { r in
                    if case .success(let v) = r { said.withLock { $0 = v } }
                    done.signal()
                }
                h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: "y",
                                                   body: "\"y\"", maxBodyBytes: max) }) { _ in done.signal() }
            }
            Self.wait(done, 3)
            let sent = try #require(said.value)
            let stored = try h.read { try $0.store.message(sender: bob.id, clientMsgID: "maybe") } != nil
            #expect(stored == sent, "the unit said \(sent), the database has \(stored)")
            #expect(node.store.stats.pipelineFallbacks == before.fallbacks + 1)
        }
    }

    /// alice and bob with two groups, one of them (`locked`) row-locked by another
    /// session's open transaction (`holder`: ROLLBACK lets it go), each warmed by a send.
    static func aRoomLockedElsewhere(_ node: Node) throws
        -> (alice: TestUser, bob: TestUser, locked: RoomID, free: RoomID, holder: PGConnection) {
        let h = node.harness
        let alice = try h.user("alice")
        let bob = try h.user("bob")
        let locked = try h.group(alice, "locked", [bob])
        let free = try h.group(alice, "free", [bob])
        _ = try h.send(alice, locked, "warm-up-1").get()
        _ = try h.send(alice, free, "warm-up-2").get()
        let holder = try PGConnection(url: node.database.url)
        try holder.execute("BEGIN")
        try holder.query("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE", [.int(locked.rawValue)])
        return (alice, bob, locked, free, holder)
    }

    /// A send whose room is locked elsewhere goes to the next batch at once; the other sends
    /// of its batch commit while the lock is still held, with no plain rerun of the batch.
    /// Merged into one call with them (SendBatches.swift), it is skipped, not waited for:
    /// that first batch commits with no rollback at all.
    @Test func aFirstStatementThatLosesALockWaitIsCarriedAlone() throws {
        try Self.with { node in
            let h = node.harness
            let (alice, bob, locked, free, holder) = try Self.aRoomLockedElsewhere(node)
            defer { holder.close() }
            let max = h.engine.config.maxMessageBodyBytes
            let others = DispatchSemaphore(value: 0)
            let blocked = DispatchSemaphore(value: 0)
            let failedBefore = node.store.stats.transactionsFailed
            let failedAtCommit = Locked<Int?>(nil)
            let before = node.asOneBatch {
                h.engine.write({ try Messages.send($0, me: alice.principal, room: free, clientMsgID: "a",
                                                   body: "\"a\"", maxBodyBytes: max) }) { _ in
                    // On the writer thread, right after its batch's COMMIT.
                    failedAtCommit.withLock { $0 = node.store.stats.transactionsFailed }
                    others.signal()
                }
                h.engine.write({ try Messages.send($0, me: bob.principal, room: locked, clientMsgID: "l",
                                                   body: "\"l\"", maxBodyBytes: max) }) { _ in blocked.signal() }
                h.engine.write({ try Messages.send($0, me: bob.principal, room: free, clientMsgID: "b",
                                                   body: "\"b\"", maxBodyBytes: max) }) { _ in others.signal() }
            }
            // Both free-room sends commit while the locked room is still locked.
            #expect(others.wait(timeout: .now() + 5) == .success)
            #expect(others.wait(timeout: .now() + 5) == .success)
            let stats = node.store.stats
            #expect(stats.pipelineFallbacks == before.fallbacks, "no plain rerun of the batch")
            #expect(failedAtCommit.value == failedBefore, "the locked room skipped, not waited for")
            try holder.execute("ROLLBACK")
            #expect(blocked.wait(timeout: .now() + 10) == .success)
            #expect(try h.read { try $0.store.message(sender: bob.id, clientMsgID: "l") } != nil)
        }
    }

    /// A send carried once (its room locked elsewhere) waits for the lock on its next
    /// attempt. Merged into one call with another send, the call loses the lock wait as a
    /// whole and which send waited is not known: the batch runs again pipelined with a
    /// call per send (`.unmerge`), where the waiting one is carried again alone and the
    /// other commits while the lock is still held.
    @Test func aMergedCallThatLosesALockWaitRunsAgainACallPerSend() throws {
        try Self.with { node in
            let h = node.harness
            let (alice, bob, locked, free, holder) = try Self.aRoomLockedElsewhere(node)
            defer { holder.close() }
            let max = h.engine.config.maxMessageBodyBytes
            let first = DispatchSemaphore(value: 0)
            let second = DispatchSemaphore(value: 0)
            let blocked = DispatchSemaphore(value: 0)
            let failedBefore = node.store.stats.transactionsFailed
            _ = node.asOneBatch {
                // First batch: the locked room's send is skipped and carried; once the
                // batch commits (this completion runs on the writer thread, after the
                // COMMIT and before the next batch is taken), another send is queued, so
                // the next batch has both, merged, the carried one patient.
                h.engine.write({ try Messages.send($0, me: alice.principal, room: free, clientMsgID: "a",
                                                   body: "\"a\"", maxBodyBytes: max) }) { _ in
                    h.engine.write({ try Messages.send($0, me: alice.principal, room: free, clientMsgID: "c",
                                                       body: "\"c\"", maxBodyBytes: max) }) { _ in second.signal() }
                    first.signal()
                }
                h.engine.write({ try Messages.send($0, me: bob.principal, room: locked, clientMsgID: "l",
                                                   body: "\"l\"", maxBodyBytes: max) }) { _ in blocked.signal() }
            }
            #expect(first.wait(timeout: .now() + 5) == .success)
            // The other send of the merged call commits while the room is still locked.
            #expect(second.wait(timeout: .now() + 5) == .success)
            #expect(try h.read { try $0.store.message(sender: alice.id, clientMsgID: "c") } != nil)
            #expect(try h.read { try $0.store.message(sender: bob.id, clientMsgID: "l") } == nil)
            // Rolled back at least twice: the merged call (unmerge), then the send's own
            // (carry). (The carried send comes first in its batch, so carrying the merged
            // call's first send would pick the right one here by luck: the count is what
            // tells the two paths apart.)
            #expect(node.store.stats.transactionsFailed >= failedBefore + 2)
            try holder.execute("ROLLBACK")
            #expect(blocked.wait(timeout: .now() + 10) == .success)
            #expect(try h.read { try $0.store.message(sender: bob.id, clientMsgID: "l") } != nil)
        }
    }

    /// A take refused by a cluster-wide bucket changes nothing to undo: the unit fails
    /// alone (429), and its batch neither falls back nor rolls back.
    @Test func aRefusedBucketTakeFailsAloneWithoutARollback() throws {
        try Self.with { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "buckets", [bob])
            _ = try h.send(alice, room, "warm-up").get()
            let max = h.engine.config.maxMessageBodyBytes
            let bucket = RateBucket(key: "members:d1", ratePerSecond: 1, burst: 2, what: "members added from this device")
            let done = DispatchSemaphore(value: 0)
            let refused = Locked<SyncError?>(nil)
            let stats = Locked<(Int, Int)>((0, 0))
            let failedBefore = node.store.stats.transactionsFailed
            let before = node.asOneBatch {
                h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: "p",
                                                   body: "\"p\"", maxBodyBytes: max) }) { _ in done.signal() }
                h.engine.write({ try RateBuckets.take($0, bucket, cost: 5) }) { r in
                    if case .failure(let e) = r { refused.withLock { $0 = e } }
                    let s = node.store.stats
                    stats.withLock { $0 = (s.transactionsFailed, s.pipelineFallbacks) }
                    done.signal()
                }
                h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: "q",
                                                   body: "\"q\"", maxBodyBytes: max) }) { _ in done.signal() }
            }
            Self.wait(done, 3)
            guard case .rateLimited(let ms, _)? = refused.value else {
                Issue.record("not refused: \(String(describing: refused.value))")
                return
            }
            #expect(ms == 3_000)
            #expect(stats.value.0 == failedBefore, "no rollback")
            #expect(stats.value.1 == before.fallbacks, "no fallback")
            #expect(try h.read { try $0.store.room(room) }?.lastSeq == 3)
        }
    }

    /// A first statement that fails for another reason than a lock (here a device for a
    /// user who does not exist: a foreign key) aborts the pipeline; the batch runs again
    /// isolating at once, where that unit fails alone as `unexpected` and the sends of
    /// its batch commit, with no plain rerun in between.
    @Test func aFirstStatementThatFailsOtherwiseMakesTheBatchIsolateAtOnce() throws {
        try Self.with { node in
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "isolate", [bob])
            _ = try h.send(alice, room, "warm-up").get()
            let max = h.engine.config.maxMessageBodyBytes
            let done = DispatchSemaphore(value: 0)
            let failure = Locked<SyncError?>(nil)
            let sent = Locked(0)
            let failedBefore = node.store.stats.transactionsFailed
            let before = node.asOneBatch {
                for key in ["a", "b"] {
                    h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: key,
                                                       body: "\"\(key)\"", maxBodyBytes: max) }) { r in
                        if case .success = r { sent.withLock { $0 += 1 } }
                        done.signal()
                    }
                    if key == "a" {
                        node.store.submit({ w in
                            try w.insertDevice(user: UserID(999_999), name: "ghost", tokenHash: Array(repeating: 7, count: 32),
                                               createdAt: 1)
                        }, affinity: nil) { r in
                            if case .failure(let e) = r { failure.withLock { $0 = e } }
                            done.signal()
                        }
                    }
                }
            }
            Self.wait(done, 3)
            guard case .unexpected? = failure.value else {
                Issue.record("the failing unit came back as \(String(describing: failure.value))")
                return
            }
            #expect(sent.value == 2)
            let stats = node.store.stats
            #expect(stats.pipelineFallbacks == before.fallbacks, "no plain rerun")
            #expect(stats.transactionsFailed == failedBefore + 1, "one rollback, then the isolating run commits")
        }
    }

    /// A batch's consecutive sends go out as one `ph_send_batch` call (SendBatches.swift).
    /// The same batch on two fresh databases, merged and a call per send: every unit gets
    /// the same answer and every user the same messages, markers and unread counts. The
    /// batch has what a run of sends meets: two rooms, a hot one and a group of 40, a
    /// sender's marker jumping over others' messages (receipts), a resend of a stored
    /// message, a resend of one earlier in the same batch, a non-member, a room that does
    /// not exist, a device over its send bucket, and bodies with quotes, backslashes,
    /// braces, commas, "NULL", newlines and non-ASCII text (the call's array literals).
    @Test func sendsMergedIntoOneCallAnswerAsSendsOneByOne() throws {
        var config = EngineConfiguration()
        config.hotThreshold = 45
        var answers: [[String]] = []
        var states: [[String]] = []
        var receipts: [Int] = []
        for merged in [true, false] {
            let node = try Node(sendBatches: merged, config: config)
            defer { node.close() }
            let h = node.harness
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let dave = try h.user("dave")
            let group = try h.group(alice, "group", [bob, carol])
            let direct = try h.direct(alice, bob)
            var many: [TestUser] = []
            for i in 0..<41 { many.append(try h.user("m\(i)")) }
            let hot = try h.group(alice, "hot", [bob, carol, dave] + many)
            let big = try h.group(alice, "big", [bob, carol] + many.prefix(37))
            #expect(try h.read { try $0.store.room(hot) }?.hot == true)
            #expect(try h.read { try $0.store.room(big) }.map { ($0.hot, $0.memberCount) } ?? (true, 0) == (false, 40))
            _ = try h.send(alice, group, "stored").get()
            let bucket = RateBucket(key: "send:d\(carol.principal.device.rawValue)", ratePerSecond: 1, burst: 1,
                                    what: "messages from this device")
            let units: [(TestUser, RoomID, String, String, RateBucket?)] = [
                (alice, group, "a1", #""say \"hi\"""#, nil), (bob, group, "b1", #""back\\slash {braces}, commas""#, nil),
                (alice, group, "a2", #""NULL""#, nil), (bob, direct, "b2", #""""#, nil), (alice, hot, "h1", #""é ✓ 日本""#, nil),
                (dave, group, "x", #""x""#, nil), (alice, group, "stored", #""hi""#, nil), (alice, group, "a1", #""say \"hi\"""#, nil),
                (carol, group, "c1", #""line\nbreak""#, bucket), (alice, direct, "a3", #"{"k":[1,2],"n":null}"#, nil),
                (bob, RoomID(999_999), "nowhere", #""n""#, nil), (carol, hot, "h2", #""h2""#, bucket),
                (carol, group, "c2", #""c2""#, nil), (alice, big, "g1", #""g1""#, nil), (many[3], big, "g2", #""g2""#, nil),
                (alice, big, "g3", #""g3""#, nil), (bob, big, "g4", #""g4""#, nil),
            ]
            let got = Locked<[Int: String]>([:])
            let done = DispatchSemaphore(value: 0)
            let max = h.engine.config.maxMessageBodyBytes
            let failedBefore = node.store.stats.transactionsFailed
            let before = node.asOneBatch {
                for (i, (user, room, key, body, bucket)) in units.enumerated() {
                    h.engine.write({ try Messages.send($0, me: user.principal, room: room, clientMsgID: key, body: body,
                                                       maxBodyBytes: max, bucket: bucket) }) { r in
                        let answer: String
                        switch r {
                        case .success(let s):
                            answer = "\(s.duplicate ? "duplicate" : "sent") room \(s.message.room) seq \(s.message.seq)"
                                + " body \(s.message.body)"
                        case .failure(.rateLimited): answer = "rate limited"   // its wait depends on the clock
                        case .failure(let e): answer = "\(e)"
                        }
                        got.withLock { $0[i] = answer }
                        done.signal()
                    }
                }
            }
            Self.wait(done, units.count)
            // One transaction, pipelined: no rollback, no rerun a unit at a time.
            #expect(node.store.stats.pipelineFallbacks == before.fallbacks, "merged: \(merged)")
            #expect(node.store.stats.transactionsFailed == failedBefore, "merged: \(merged)")
            answers.append((0..<units.count).map { got.value[$0] ?? "no answer" })
            var state: [String] = []
            var receiptEvents = 0
            for user in [alice, bob, carol, dave, many[3], many[40]] {
                let (events, _, _) = try h.pullAll(user.id, from: Cursor(user: user.id, inboxSeq: 0), limit: 5)
                receiptEvents += events.filter { $0.kind == .receipts }.count
                state.append("\(user.name): " + events.filter { $0.kind != .receipts }.map { e in
                    e.message.map { "\($0.room):\($0.seq):\($0.clientMsgID):\($0.body)" }
                        ?? "\(e.kind) \(e.room.map { "\($0)" } ?? "-")"
                }.joined(separator: " "))
                let list = try h.read { try Conversations.list($0, me: user.id, limit: 10, preview: 0, page: nil) }
                state.append("\(user.name): " + list.conversations.map { c in
                    "\(c.room.id) read \(c.readSeq) unread \(c.unread) last \(c.room.lastSeq)"
                }.sorted().joined(separator: ", "))
            }
            states.append(state)
            receipts.append(receiptEvents)
        }
        let merged = answers[0]
        #expect(merged == answers[1])
        #expect(states[0] == states[1])
        // What the answers are, so the two cannot agree on something wrong.
        #expect(merged[0] == #"sent room 1 seq 2 body "say \"hi\"""# && merged[2] == #"sent room 1 seq 4 body "NULL""#,
                "\(merged)")
        #expect(merged[5] == "\(SyncError.notMember)" && merged[10] == "\(SyncError.roomNotFound)", "\(merged)")
        #expect(merged[6] == #"duplicate room 1 seq 1 body "hi""# && merged[7] == #"duplicate room 1 seq 2 body "say \"hi\"""#,
                "\(merged)")
        #expect(merged[8] == #"sent room 1 seq 5 body "line\nbreak""# && merged[11] == "rate limited", "\(merged)")
        #expect(merged[12] == #"sent room 1 seq 6 body "c2""#, "\(merged)")
        #expect(merged[16] == #"sent room 4 seq 4 body "g4""#, "\(merged)")
        // Receipts may be coalesced (one event for two marks of one room: the migration's
        // header) but never lost: both runs emitted some.
        #expect(receipts[0] > 0 && receipts[1] > 0, "\(receipts)")
    }

    /// Another writer inserts a message with a merged send's (sender, client_msg_id) while
    /// the call runs (here a session that commits once the call waits for its key): the
    /// call fails (PH002), the batch runs again a unit at a time, and that send is answered
    /// the other writer's message as a duplicate; the other send of its batch commits.
    @Test func aKeyInsertedMeanwhileMakesTheBatchRunAUnitAtATime() throws {
        // A lock wait long enough that the call waits for the other session, not gives up.
        let node = try Node(lockTimeoutMillis: 10_000)
        defer { node.close() }
        let h = node.harness
        let alice = try h.user("alice")
        let bob = try h.user("bob")
        let room = try h.group(alice, "race", [bob])
        let other = try PGConnection(url: node.database.url)
        defer { other.close() }
        try other.execute("BEGIN")
        try other.query("""
            INSERT INTO messages (room_id, seq, sender_id, sender_device_id, client_msg_id, body, sent_at)
            VALUES ($1, 1000, $2, $3, 'raced', '"hi"', 1)
            """, [.int(room.rawValue), .int(alice.id.rawValue), .int(alice.principal.device.rawValue)])
        let watcher = try PGConnection(url: node.database.url)
        defer { watcher.close() }
        let max = h.engine.config.maxMessageBodyBytes
        let done = DispatchSemaphore(value: 0)
        let answers = Locked<[String: String]>([:])
        let failedBefore = node.store.stats.transactionsFailed
        let before = node.asOneBatch {
            for (user, key) in [(bob, "other"), (alice, "raced")] {
                h.engine.write({ try Messages.send($0, me: user.principal, room: room, clientMsgID: key, body: "\"hi\"",
                                                   maxBodyBytes: max) }) { r in
                    let answer: String
                    switch r {
                    case .success(let s): answer = "\(s.duplicate ? "duplicate" : "sent") seq \(s.message.seq)"
                    case .failure(let e): answer = "\(e)"
                    }
                    answers.withLock { $0[key] = answer }
                    done.signal()
                }
            }
        }
        // The merged call waits for the other session's key; then that session commits.
        var waiting = false
        for _ in 0..<500 where !waiting {
            waiting = try watcher.queryOne("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") {
                $0.int(0)
            } == 1
            if !waiting { usleep(10_000) }
        }
        #expect(waiting, "the merged call waits for the other session's key")
        try other.execute("COMMIT")
        Self.wait(done, 2)
        #expect(answers.value == ["other": "sent seq 1", "raced": "duplicate seq 1000"], "\(answers.value)")
        let stats = node.store.stats
        #expect(stats.transactionsFailed == failedBefore + 1, "the merged call's batch rolled back once")
        #expect(stats.pipelineFallbacks == before.fallbacks, "then ran isolating, not a statement at a time")
    }
}
