import Glibc
import Dispatch
import Synchronization
import SyncEngine
import Testing

/// The guarantees of `SyncStore` (SyncStore.swift's doc comment), checked through the
/// store interface and the engine only, against every backend in `allStoreFactories`.
@Suite(.timeLimit(.minutes(3)))
struct StoreConformanceTests {
    // MARK: durability before completion

    /// When a unit's completion runs, a new read connection sees its effects, and so does
    /// a store opened afresh on the database after the first one stopped.
    @Test(arguments: allStoreFactories)
    func aCompletionFindsItsEffectsCommitted(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let store = h.store
            let seen = Locked<[Bool]>([])
            let done = DispatchSemaphore(value: 0)
            for i in 0..<5 {
                let name = "durable\(i)"
                store.submit({ w in try w.insertUser(name: name, createdAt: 1) }, affinity: nil) { result in
                    // Inside the completion: a brand-new connection must already see the row.
                    let visible = (try? store.openReader()).map { conn in
                        defer { conn.close() }
                        return (try? conn.snapshot { try $0.user(named: name) }) != nil
                    } ?? false
                    let ok = (try? result.get()) != nil
                    seen.withLock { $0.append(visible && ok) }
                    done.signal()
                }
            }
            for _ in 0..<5 { done.wait() }
            #expect(seen.value == Array(repeating: true, count: 5))

            // Still there for a store opened after this one stopped.
            store.stop()
            let reopened = try h.database.open()
            let conn = try reopened.openReader()
            defer { conn.close() }
            for i in 0..<5 {
                #expect(try conn.snapshot { try $0.user(named: "durable\(i)") }?.name == "durable\(i)")
            }
        }
    }

    /// A unit that throws after writing leaves nothing, and the units group-committed
    /// with it keep theirs.
    @Test(arguments: allStoreFactories)
    func aFailedUnitLeavesNothing(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let results = Locked<[String: Result<Bool, SyncError>]>([:])
            let done = DispatchSemaphore(value: 0)
            // Queued back to back so that a batching backend commits them together.
            for name in ["before", "ghost", "after"] {
                h.engine.write({ ctx -> Bool in
                    _ = try Accounts.createUser(ctx, name: name)
                    if name == "ghost" { throw SyncError.forbidden("changed my mind") }
                    return true
                }) { r in
                    results.withLock { $0[name] = r }
                    done.signal()
                }
            }
            for _ in 0..<3 { done.wait() }
            #expect(results.value["ghost"] == .failure(.forbidden("changed my mind")))
            #expect(results.value["before"] == .success(true))
            #expect(results.value["after"] == .success(true))
            try h.read { ctx throws in
                #expect(try ctx.store.user(named: "ghost") == nil)
                #expect(try ctx.store.user(named: "before") != nil)
                #expect(try ctx.store.user(named: "after") != nil)
            }

            // A send that fails after its message was stored: no message, no seq taken,
            // no inbox rows.
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            let bobHead = try #require(try h.read { try $0.store.inboxHead(user: bob.id) })
            let failed = h.write { ctx -> Int in
                _ = try Messages.send(ctx, me: alice.principal, room: room, clientMsgID: "lost", body: "1", maxBodyBytes: 100)
                throw SyncError.storageUnavailable
            }
            #expect(failed == .failure(.storageUnavailable))
            try h.read { ctx throws in
                #expect(try ctx.store.room(room)?.lastSeq == 0)
                #expect(try ctx.store.message(sender: alice.id, clientMsgID: "lost") == nil)
                #expect(try ctx.store.inboxHead(user: bob.id) == bobHead)
            }
            #expect(try h.send(alice, room, "next").get().message.seq == 1, "the failed send took no seq")
        }
    }

    // MARK: snapshots

    /// A snapshot does not see what commits while it is open; the next one does.
    @Test(arguments: allStoreFactories)
    func aSnapshotDoesNotSeeACommitMadeDuringIt(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            #expect(try h.send(alice, room, "m1").get().message.seq == 1)

            let (before, during, inboxBefore, inboxDuring, ghostDuring) = try h.reader.snapshot { s throws in
                let before = try s.room(room)?.lastSeq
                let inboxBefore = try s.inboxHead(user: bob.id)
                // Commit a send and a new user while this snapshot is open.
                _ = try h.send(alice, room, "m2").get()
                _ = try h.write { try Accounts.createUser($0, name: "carol") }.get()
                let during = try s.room(room)?.lastSeq
                let inboxDuring = try s.inboxHead(user: bob.id)
                let ghost = try s.user(named: "carol")
                return (before, during, inboxBefore, inboxDuring, ghost)
            }
            #expect(before == 1)
            #expect(during == 1, "the snapshot saw a commit made during it")
            #expect(inboxDuring == inboxBefore)
            #expect(ghostDuring == nil)
            try h.reader.snapshot { s throws in
                #expect(try s.room(room)?.lastSeq == 2)
                #expect(try s.inboxHead(user: bob.id) == inboxBefore.map { $0 + 1 })
                #expect(try s.user(named: "carol") != nil)
                // One snapshot: the room's last seq and its newest message agree.
                #expect(try s.latestMessages(room: room, above: 0, count: 1, viewer: bob.id).first?.seq == 2)
            }
        }
    }

    // MARK: per-room and per-user sequences

    /// Many threads sending into overlapping rooms through one store: every room's seqs
    /// are exactly 1...N, every member's inbox seqs exactly 1...M.
    @Test(arguments: allStoreFactories)
    func seqsStayGaplessUnderConcurrentSenders(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            try ConcurrentScenario.run(harnesses: [h])
        }
    }

    /// The concurrent writers case: two stores on one database, many threads sending
    /// into the same rooms through both. Seqs stay exact and a pull from the start
    /// returns every message exactly once, in per-room order.
    @Test(arguments: allStoreFactories)
    func twoStoresOnOneDatabaseKeepEverySequenceExact(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 6   // the all-hands room is hot: read diffusion mixed in
        try Harness.with(factory, config: config) { h in
            let other = try h.second()
            defer { other.reader.close() }
            try ConcurrentScenario.run(harnesses: [h, other])
        }
    }

    /// The unique keys hold across two stores on one database: of concurrent creations
    /// of one user name exactly one gets an id (the others nil, their units still
    /// usable); concurrent creations of one pair's direct room all end in the same room
    /// with two members; racing read markers only move forward.
    @Test(arguments: allStoreFactories)
    func uniqueKeysAndForwardOnlyMarkersHoldAcrossStores(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let other = try h.second()
            defer { other.reader.close() }
            let harnesses = [h, other]
            let ids = Locked<[UserID?]>([])
            let failures = Locked<[SyncError]>([])
            onThreads(8) { i in
                let r = submitAndWait(harnesses[i % 2].store) { w -> UserID? in
                    let id = try w.insertUser(name: "taken", createdAt: 1)
                    // The unit goes on after a refused name and commits what it does next.
                    _ = try w.insertUser(name: "side\(i)", createdAt: 1)
                    return id
                }
                switch r {
                case .success(let id): ids.withLock { $0.append(id) }
                case .failure(let e): failures.withLock { $0.append(e) }
                }
            }
            #expect(failures.value.isEmpty)
            #expect(ids.value.count == 8)
            #expect(ids.value.compactMap { $0 }.count == 1)
            try h.read { ctx throws in
                for i in 0..<8 { #expect(try ctx.store.user(named: "side\(i)") != nil) }
            }

            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let rooms = Locked<[RoomID]>([])
            onThreads(6) { i in
                let (me, peer) = i % 2 == 0 ? (alice, bob) : (bob, alice)
                if let room = try? harnesses[i % 2].direct(me, peer) { rooms.withLock { $0.append(room) } }
            }
            #expect(rooms.value.count == 6)
            #expect(Set(rooms.value).count == 1)
            let dm = try #require(rooms.value.first)
            try h.read { ctx throws in
                #expect(try ctx.store.room(dm)?.memberCount == 2)
                #expect(try ctx.store.members(of: dm, after: nil, limit: 10).map(\.name) == ["alice", "bob"])
                #expect(try ctx.store.members(of: dm, after: "alice", limit: 10).map(\.name) == ["bob"])
                #expect(try ctx.store.members(of: dm, after: nil, limit: 1).map(\.name) == ["alice"])
            }

            for i in 1...10 { _ = try h.send(alice, dm, "m\(i)").get() }
            onThreads(10) { i in
                let seq = Int64(i + 1)
                _ = harnesses[i % 2].write { try Conversations.markRead($0, me: bob.principal, room: dm, seq: seq) }
            }
            #expect(try h.read { try $0.store.membership(room: dm, user: bob.id)?.readSeq } == 10)
            #expect(try other.read { try Conversations.unread($0, me: bob.id) }.total == 0)
        }
    }

    // MARK: commit position

    /// Within a unit the commit position never goes down and is not below a message
    /// stored in it; a later unit's is not below any message committed before it.
    @Test(arguments: allStoreFactories)
    func theCommitPositionIsNonDecreasing(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            var lastCommitted: Int64 = 0
            for round in 0..<4 {
                let (p0, ids, positions) = try h.write { ctx -> (Int64, [Int64], [Int64]) in
                    let p0 = try ctx.store.commitPosition()
                    var ids: [Int64] = []
                    var positions: [Int64] = []
                    for k in 0..<3 {
                        let r = try Messages.send(ctx, me: alice.principal, room: room, clientMsgID: "r\(round)-\(k)",
                                                  body: "1", maxBodyBytes: 100)
                        ids.append(r.message.id.rawValue)
                        positions.append(try ctx.store.commitPosition())
                    }
                    return (p0, ids, positions)
                }.get()
                #expect(p0 >= lastCommitted, "a unit's position is below a message committed before it")
                #expect(zip([p0] + positions, positions).allSatisfy { $0 <= $1 }, "position went down within a unit")
                #expect(zip(ids, positions).allSatisfy { $0 <= $1 }, "position below a message of the unit")
                lastCommitted = ids.max()!
            }
            // Inbox rows carry positions in commit order too: bob's are non-decreasing.
            let keys = try h.read { try $0.store.inboxKeys(user: bob.id, after: 0, limit: 1000) }
            #expect(keys.map(\.pos) == keys.map(\.pos).sorted())
        }
    }

    // MARK: idempotency

    /// Concurrent sends with one (sender, client_msg_id), through two different stores on
    /// the same database: exactly one message, and every send gets its id.
    @Test(arguments: allStoreFactories)
    func concurrentSendsWithOneKeyThroughTwoStoresMakeOneMessage(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let other = try h.second()
            defer { other.reader.close() }
            let alice = try h.user("alice")
            var devices = [alice]
            for i in 1..<6 { devices.append(try h.device("alice", "device\(i)")) }
            let bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            let senders = devices
            let harnesses = [h, other]
            for round in 0..<3 {
                let results = Locked<[Result<SendResult, SyncError>]>([])
                onThreads(senders.count * 2) { i in
                    let r = harnesses[i % 2].send(senders[i / 2], room, "same-key-\(round)", "\"hello\"")
                    results.withLock { $0.append(r) }
                }
                let all = results.value.compactMap { try? $0.get() }
                #expect(all.count == senders.count * 2, "\(results.value.filter { (try? $0.get()) == nil })")
                #expect(all.filter { !$0.duplicate }.count == 1)
                #expect(Set(all.map(\.message.id)).count == 1)
                #expect(Set(all.map(\.message.seq)) == [Int64(round + 1)])
            }
            try h.read { ctx throws in
                #expect(try ctx.store.room(room)?.lastSeq == 3)
                var seqs: [Int64] = []
                try ctx.store.messages(room: room, below: .max, above: 0, limit: 100, viewer: UserID(1)) { seqs.append($0.seq); return true }
                #expect(seqs == [3, 2, 1])
            }
        }
    }

    /// Two units on two stores (nodes) that take the same rows in opposite orders (a
    /// deadlock for a store with row locks): both complete, each exactly once, neither
    /// surfaces an error; the loser of the lock wait simply runs again.
    @Test(arguments: allStoreFactories)
    func unitsTakingRowsInOppositeOrdersOnTwoStoresBothComplete(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let other = try h.second()
            defer { other.reader.close() }
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let first = try h.group(alice, "first", [bob])
            let second = try h.group(alice, "second", [bob])
            // Where units overlap, each unit's first run waits, holding its first room,
            // until the other holds its own: then each asks for the other's room. (SQLite's
            // two writers take turns: there the units run one after the other.)
            let overlap = factory.unitsOfTwoStoresOverlap
            let holding = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
            let firstRunDone = Locked([false, false])
            let metInTime = Locked([true, true])
            let results = Locked<[Result<Int, SyncError>?]>([nil, nil])
            let stores = [h.store, other.store]
            onThreads(2) { i in
                let (a, b) = i == 0 ? (first, second) : (second, first)
                let r = submitAndWait(stores[i]) { w -> Int in
                    guard let ta = try w.sendTarget(room: a) else { throw SyncError.roomNotFound }
                    if overlap, !firstRunDone.withLock({ done in defer { done[i] = true }; return done[i] }) {
                        holding[i].signal()
                        let met = holding[1 - i].wait(timeout: .now() + 10) == .success
                        metInTime.withLock { $0[i] = met }
                    }
                    guard try w.sendTarget(room: b) != nil else { throw SyncError.roomNotFound }
                    // One effect per unit, to count: a message in its first room.
                    _ = try w.appendMessage(to: ta, sender: alice.id, device: alice.principal.device,
                                            clientMsgID: "unit-\(i)", body: "\"x\"", at: 1)
                    return i
                }
                results.withLock { $0[i] = r }
            }
            #expect(results.value.compactMap { try? $0?.get() }.sorted() == [0, 1], "\(results.value)")
            #expect(metInTime.value == [true, true], "a unit never saw the other hold its first room")
            try h.read { ctx throws in
                #expect(try ctx.store.room(first)?.lastSeq == 1)
                #expect(try ctx.store.room(second)?.lastSeq == 1)
                #expect(try ctx.store.message(sender: alice.id, clientMsgID: "unit-0")?.room == first)
                #expect(try ctx.store.message(sender: alice.id, clientMsgID: "unit-1")?.room == second)
            }
        }
    }

    /// The store's own backstop: appending with a key that is taken (as a concurrent send
    /// that did not see the original would) returns the original and takes no seq.
    @Test(arguments: allStoreFactories)
    func anAppendWithATakenKeyReturnsTheOriginal(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            let first = try h.send(alice, room, "k1", "\"hello\"").get().message
            let device = alice.principal.device
            let (outcome, lastSeqAfter) = try submitAndWait(h.store) { w -> (MessageAppend, Int64?) in
                let target = try #require(try w.sendTarget(room: room))
                let outcome = try w.appendMessage(to: target, sender: alice.id, device: device, clientMsgID: "k1",
                                                  body: "\"hello\"", at: 1)
                return (outcome, try w.sendTarget(room: room)?.lastSeq)
            }.get()
            guard case .duplicate(let original) = outcome else {
                Issue.record("expected .duplicate, got \(outcome)")
                return
            }
            #expect(original == first)
            #expect(lastSeqAfter == 1, "a duplicate takes no seq")
            #expect(try h.send(alice, room, "k2").get().message.seq == 2)
        }
    }

    // MARK: errors

    /// After `stop()`, a unit fails with `.shuttingDown` (its completion still runs once)
    /// and writes nothing.
    @Test(arguments: allStoreFactories)
    func aUnitAfterStopFailsShuttingDown(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            _ = try h.user("alice")
            h.store.stop()
            h.store.stop()   // idempotent
            let calls = Locked(0)
            let r = submitAndWait(h.store) { w -> UserID? in
                calls.withLock { $0 += 1 }
                return try w.insertUser(name: "late", createdAt: 1)
            }
            #expect(r.map { _ in 0 } == .failure(.shuttingDown))
            #expect(calls.value == 0, "a unit ran after stop")
            let engineResult = h.write { try Accounts.createUser($0, name: "late2") }
            #expect(engineResult.map { _ in 0 } == .failure(.shuttingDown))

            // Nothing of them was written.
            let reopened = try h.database.open()
            let conn = try reopened.openReader()
            defer { conn.close() }
            try conn.snapshot { s throws in
                #expect(try s.user(named: "alice") != nil)
                #expect(try s.user(named: "late") == nil)
                #expect(try s.user(named: "late2") == nil)
            }
        }
    }

    /// A `SyncError` thrown by the domain inside a unit or a read arrives unchanged (not
    /// as a storage error); a foreign error never leaks as anything but a `SyncError`.
    @Test(arguments: allStoreFactories)
    func domainErrorsPassThroughUnchanged(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let errors: [SyncError] = [.forbidden("no"), .invalid(field: "f", reason: "r"), .userExists("alice"),
                                       .roomNotFound, .idempotencyConflict, .seqOutOfRange(lastSeq: 7), .cursorExpired]
            for e in errors {
                #expect(h.write { _ -> Int in throw e }.map { _ in 0 } == .failure(e))
                #expect(submitAndWait(h.store) { _ -> Int in throw e }.map { _ in 0 } == .failure(e))
                #expect(throws: e) { try h.reader.snapshot { _ -> Int in throw e } }
            }
            // Real domain failures, through the store.
            #expect(h.write { try Accounts.createUser($0, name: "alice") }.map { _ in 0 } == .failure(.userExists("alice")))
            #expect(h.send(alice, RoomID(999_999), "x").map { _ in 0 } == .failure(.roomNotFound))
            struct Foreign: Error {}
            // An error nobody expects is not the database being away: 500, not 503.
            let foreign = h.write { _ -> Int in throw Foreign() }
            guard case .failure(.unexpected(let detail)) = foreign else {
                Issue.record("a foreign error came back as \(foreign)")
                return
            }
            #expect(detail.contains("Foreign"))
            // The store is still usable.
            #expect((try? h.user("bob")) != nil)
        }
    }
    // MARK: one-call writes (issue 19): joins, duplicates and failures around a send

    /// Members join a room while others send into it, through two stores: each joiner
    /// gets a message exactly when its joined_seq is below the message's seq (the send
    /// reads the members under the room's lock), and nobody else's stream has a gap.
    @Test(arguments: allStoreFactories)
    func aMemberJoiningDuringSendsGetsExactlyTheMessagesAfterTheJoin(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let other = try h.second()
            defer { other.reader.close() }
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            var joiners: [TestUser] = []
            for i in 0..<8 { joiners.append(try h.user("joiner\(i)")) }
            let room = try h.group(alice, "busy", [bob])
            let people = joiners
            let failures = Locked<[String]>([])
            // The joins are spread over the sends: each waits for three more sends to end.
            let sent = DispatchSemaphore(value: 0)
            onThreads(3) { t in
                if t == 2 {
                    for j in people {
                        for _ in 0..<3 {
                            if sent.wait(timeout: .now() + 10) == .timedOut { failures.withLock { $0.append("no send ended in 10 s") } }
                        }
                        let name = j.name
                        if case .failure(let e) = other.write({ try Rooms.addMembers($0, me: bob.principal, room: room, names: [name]) }) {
                            failures.withLock { $0.append("join \(name): \(e)") }
                        }
                    }
                } else {
                    let (sender, harness) = t == 0 ? (alice, h) : (bob, other)
                    for k in 0..<30 {
                        if case .failure(let e) = harness.send(sender, room, "t\(t)-\(k)") {
                            failures.withLock { $0.append("send t\(t)-\(k): \(e)") }
                        }
                        sent.signal()
                    }
                }
            }
            #expect(failures.value.isEmpty, "\(failures.value)")
            try h.read { ctx throws in
                let last = try #require(try ctx.store.room(room)).lastSeq
                #expect(last == 60)
                let members = try ctx.store.members(of: room, after: nil, limit: 10_000)
                for j in people {
                    let m = try #require(members.first { $0.user == j.id }, "\(j.name) is a member")
                    let got = try ctx.store.inboxKeys(user: j.id, after: 0, limit: 10_000)
                        .filter { $0.kind == .message && $0.room == room }.compactMap(\.roomSeq)
                    #expect(got == (m.joinedSeq < last ? Array((m.joinedSeq + 1)...last) : []),
                            "\(j.name) joined at \(m.joinedSeq)")
                }
                for u in [alice, bob] {
                    let got = try ctx.store.inboxKeys(user: u.id, after: 0, limit: 10_000)
                        .filter { $0.kind == .message && $0.room == room }.compactMap(\.roomSeq)
                    #expect(got == oneThrough(last))
                }
            }
        }
    }

    /// Sends with one (sender, client_msg_id) submitted at once to one store (so a
    /// batching backend runs them in one transaction): one message, every send gets it.
    @Test(arguments: allStoreFactories)
    func sendsWithOneKeyInOneBatchMakeOneMessage(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            let results = Locked<[Result<SendResult, SyncError>]>([])
            let done = DispatchSemaphore(value: 0)
            let max = h.engine.config.maxMessageBodyBytes
            for _ in 0..<12 {
                h.engine.write({ try Messages.send($0, me: alice.principal, room: room, clientMsgID: "once", body: "\"x\"",
                                                   maxBodyBytes: max) }) { r in
                    results.withLock { $0.append(r) }
                    done.signal()
                }
            }
            for _ in 0..<12 { done.wait() }
            let all = results.value.compactMap { try? $0.get() }
            #expect(all.count == 12)
            #expect(all.filter { !$0.duplicate }.count == 1)
            #expect(Set(all.map(\.message.id)).count == 1)
            try h.read { ctx throws in
                #expect(try ctx.store.room(room)?.lastSeq == 1)
                #expect(try ctx.store.inboxKeys(user: bob.id, after: 0, limit: 100).filter { $0.kind == .message }.count == 1)
            }
        }
    }

    /// In one batch, a unit that throws after its send was stored is undone alone: the
    /// sends around it keep everything (message, seqs, inbox rows, read marker), and the
    /// failed one leaves nothing, not even a seq.
    @Test(arguments: allStoreFactories)
    func aUnitFailingAfterItsSendLeavesTheOtherSendsOfItsBatchWhole(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let carol = try h.user("carol")
            let room = try h.group(alice, "trio", [bob, carol])
            let heads = try [alice, bob, carol].map { u in try #require(try h.read { try $0.store.inboxHead(user: u.id) }) }
            let results = Locked<[Int: Result<Int64, SyncError>]>([:])
            let done = DispatchSemaphore(value: 0)
            let max = h.engine.config.maxMessageBodyBytes
            let senders = [alice, bob, carol]
            for i in 0..<7 {
                let sender = senders[i % 3]
                h.engine.write({ ctx -> Int64 in
                    let r = try Messages.send(ctx, me: sender.principal, room: room, clientMsgID: "k\(i)", body: "\"\(i)\"",
                                              maxBodyBytes: max)
                    if i == 3 { throw SyncError.forbidden("changed my mind") }
                    return r.message.seq
                }) { r in
                    results.withLock { $0[i] = r }
                    done.signal()
                }
            }
            for _ in 0..<7 { done.wait() }
            #expect(results.value[3] == .failure(.forbidden("changed my mind")))
            let seqs = (0..<7).filter { $0 != 3 }.compactMap { try? results.value[$0]?.get() }
            #expect(seqs.sorted() == oneThrough(6), "\(results.value)")
            try h.read { ctx throws in
                #expect(try ctx.store.room(room)?.lastSeq == 6)
                #expect(try ctx.store.message(sender: senders[0].id, clientMsgID: "k3") == nil)
                var stored: [Int64] = []
                try ctx.store.messages(room: room, below: .max, above: 0, limit: 100, viewer: UserID(1)) { stored.append($0.seq); return true }
                #expect(stored.reversed() == oneThrough(6))
                for (i, u) in senders.enumerated() {
                    let keys = try ctx.store.inboxKeys(user: u.id, after: heads[i], limit: 1000)
                    #expect(keys.map(\.seq) == oneThrough(keys.last?.seq ?? heads[i]).filter { $0 > heads[i] })
                    #expect(keys.filter { $0.kind == .message }.compactMap(\.roomSeq) == oneThrough(6), "\(u.name)")
                }
                // Each sender's read marker is at its own last message.
                for (i, u) in senders.enumerated() {
                    let mine = (0..<7).filter { $0 != 3 && $0 % 3 == i }.compactMap { try? results.value[$0]?.get() }
                    #expect(try ctx.store.membership(room: room, user: u.id)?.readSeq == mine.max() ?? 0)
                }
            }
        }
    }
    /// Acks for several devices at once (`advanceAcks`) only move forward, each on its
    /// own: a missing device is nil, a cursor with hot-room positions compares them.
    @Test(arguments: allStoreFactories)
    func acksForSeveralDevicesAtOnceOnlyMoveForward(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice")
            let d2 = try h.device("alice", "laptop")
            let d3 = try h.device("alice", "tablet")
            let missing = DeviceID(999_999)
            let hotRoom = RoomID(77)
            func advance(_ acks: [(DeviceID, Cursor)]) throws -> [DeviceID: Bool?] {
                try submitAndWait(h.store) { w in try w.advanceAcks(acks.map { (device: $0.0, cursor: $0.1) }, now: 5) }.get()
            }
            let u = alice.id
            var r = try advance([(alice.principal.device, Cursor(user: u, inboxSeq: 3)),
                                 (d2.principal.device, Cursor(user: u, inboxSeq: 0)),
                                 (d3.principal.device, Cursor(user: u, inboxSeq: 2, hot: [hotRoom: 1])),
                                 (missing, Cursor(user: u, inboxSeq: 1))])
            #expect(r[alice.principal.device] == .some(true))
            #expect(r[d2.principal.device] == .some(true))
            #expect(r[d3.principal.device] == .some(true))
            #expect(r[missing] == .some(nil))
            r = try advance([(alice.principal.device, Cursor(user: u, inboxSeq: 2)),
                             (d2.principal.device, Cursor(user: u, inboxSeq: 5)),
                             (d3.principal.device, Cursor(user: u, inboxSeq: 2, hot: [hotRoom: 4]))])
            #expect(r[alice.principal.device] == .some(false), "an ack never moves back")
            #expect(r[d2.principal.device] == .some(true))
            #expect(r[d3.principal.device] == .some(true), "a further hot-room position at the same inbox seq")
            r = try advance([(d3.principal.device, Cursor(user: u, inboxSeq: 2, hot: [hotRoom: 3])),
                             (alice.principal.device, Cursor(user: u, inboxSeq: 3))])
            #expect(r[d3.principal.device] == .some(false))
            #expect(r[alice.principal.device] == .some(false), "the same cursor again")
            try h.read { ctx throws in
                #expect(try ctx.store.storedAck(device: alice.principal.device)?.seq == 3)
                #expect(try ctx.store.storedAck(device: d2.principal.device)?.seq == 5)
                let stored = try #require(try ctx.store.storedAck(device: d3.principal.device)?.cursor)
                #expect(Cursor.decode(stored) == Cursor(user: u, inboxSeq: 2, hot: [hotRoom: 4]))
            }
        }
    }
}



/// Users in overlapping rooms (one all-hands room, two partial groups, a direct chat),
/// many threads sending through the given engines in turn; then every sequence checked.
enum ConcurrentScenario {
    static let threads = 10
    static let sendsPerThread = 20

    static func run(harnesses: [Harness]) throws {
        let h = harnesses[0]
        var users: [TestUser] = []
        for i in 0..<6 { users.append(try h.user("user\(i)")) }
        let all = try h.group(users[0], "all-hands", Array(users[1...]))
        let left = try h.group(users[0], "left", [users[1], users[2]])
        let right = try h.group(users[2], "right", [users[3], users[4], users[5]])
        let dm = try h.direct(users[0], users[5])
        let rooms: [(RoomID, [Int])] = [(all, [0, 1, 2, 3, 4, 5]), (left, [0, 1, 2]), (right, [2, 3, 4, 5]), (dm, [0, 5])]
        let headsBefore = try users.map { u in try #require(try h.read { try $0.store.inboxHead(user: u.id) }) }

        let sent = Locked<[RoomID: [String]]>([:])
        let failures = Locked<[String]>([])
        let people = users
        onThreads(threads) { t in
            let engine = harnesses[t % harnesses.count]
            for k in 0..<sendsPerThread {
                let (room, members) = rooms[(t + k) % rooms.count]
                let sender = people[members[(t * 7 + k) % members.count]]
                let key = "t\(t)-\(k)"
                switch engine.send(sender, room, key, "\"\(key)\"") {
                case .success(let r) where !r.duplicate: sent.withLock { $0[room, default: []].append(key) }
                case .success: failures.withLock { $0.append("\(key): duplicate") }
                case .failure(let e): failures.withLock { $0.append("\(key): \(e)") }
                }
            }
        }
        #expect(failures.value.isEmpty, "\(failures.value)")
        let sentByRoom = sent.value
        #expect(sentByRoom.values.reduce(0) { $0 + $1.count } == threads * sendsPerThread)

        // Read through every store: all of them see the same, exact sequences.
        for reader in harnesses {
            try reader.read { ctx throws in
                for (room, _) in rooms {
                    let n = Int64(sentByRoom[room]?.count ?? 0)
                    #expect(try ctx.store.room(room)?.lastSeq == n)
                    var messages: [Message] = []
                    try ctx.store.messages(room: room, below: .max, above: 0, limit: 10_000, viewer: UserID(1)) { messages.append($0); return true }
                    #expect(Array(messages.map(\.seq).reversed()) == oneThrough(n), "room \(room): seqs not 1...\(n)")
                    #expect(Set(messages.map(\.clientMsgID)) == Set(sentByRoom[room] ?? []))
                }
                for (i, u) in people.enumerated() {
                    let head = try #require(try ctx.store.inboxHead(user: u.id))
                    let keys = try ctx.store.inboxKeys(user: u.id, after: 0, limit: 100_000)
                    #expect(keys.map(\.seq) == oneThrough(head), "user \(u.name): inbox seqs not 1...\(head)")
                    // One message row per message of each normal room the user is in (besides them,
                    // receipts events: sending reads what came before).
                    let normalRooms = try rooms.filter { $0.1.contains(i) }.filter { try ctx.store.room($0.0)?.hot == false }
                    let expectedRows = normalRooms.reduce(0) { $0 + (sentByRoom[$1.0]?.count ?? 0) }
                    let messageRows = keys.filter { $0.seq > headsBefore[i] && $0.kind == .message }.count
                    #expect(messageRows == expectedRows, "user \(u.name)")
                }
            }
        }

        // A pull from the start returns every message of the user's rooms exactly once,
        // in per-room order.
        for (i, u) in people.enumerated() {
            let reader = harnesses[i % harnesses.count]
            var expected: [RoomID: [Int64]] = [:]
            for (room, members) in rooms where members.contains(i) {
                let n = Int64(sentByRoom[room]?.count ?? 0)
                expected[room] = oneThrough(n)
            }
            let (events, cursor, _) = try reader.pullAll(u.id, from: Cursor(user: u.id, inboxSeq: 0), limit: 25)
            expectExactlyOnceInOrder(events, expected: expected)
            // Nothing more from the final cursor.
            #expect(try reader.pullAll(u.id, from: cursor).events.isEmpty)
        }
    }

}

/// 1...n as an array (empty for 0).
func oneThrough(_ n: Int64) -> [Int64] { n <= 0 ? [] : Array(1...n) }
