import Dispatch
import SyncEngine
import Testing

extension StoreConformanceTests {
    // MARK: edits, recalls and reactions (docs/message-changes.md)

    func edit(_ h: Harness, _ me: TestUser, _ room: RoomID, _ seq: Int64, _ body: String) -> Result<Message, SyncError> {
        h.write { try MessageChanges.edit($0, me: me.principal, room: room, seq: seq, body: body, maxBodyBytes: 16_384) }
    }

    /// Runs the reactions flush and returns the events it wrote (fails after 10 s).
    @discardableResult
    func flush(_ h: Harness) throws -> Int {
        let done = DispatchSemaphore(value: 0)
        let written = Locked(0)
        h.engine.flushReactions { n in written.withLock { $0 = n }; done.signal() }
        guard done.wait(timeout: .now() + 10) == .success else { throw TestSetupError("the reactions flush did not end") }
        return written.value
    }

    /// Runs an erasure round to its end (fails after 20 s: an erasure that never ends).
    func erase(_ h: Harness) throws {
        let done = DispatchSemaphore(value: 0)
        h.engine.eraseRound { done.signal() }
        guard done.wait(timeout: .now() + 20) == .success else { throw TestSetupError("the erasure round did not end") }
    }

    func recall(_ h: Harness, _ me: TestUser, _ room: RoomID, _ seq: Int64) -> Result<Message, SyncError> {
        h.write { try MessageChanges.recall($0, me: me.principal, room: room, seq: seq).message }
    }

    /// Edits and recalls interleaved with concurrent sends, through two stores on one
    /// database, in a normal and a hot room: every room's rows (messages and changes)
    /// have exactly the seqs 1...N, each change comes after the message it changes, and
    /// a member pulling from the start gets every message and every change exactly once,
    /// in seq order, each change carrying the message as it is now.
    @Test(arguments: allStoreFactories)
    func editsAndRecallsUnderConcurrentSendsKeepSeqsGapless(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 3
        try Harness.with(factory, config: config) { h in
            let other = try h.second()
            defer { other.reader.close() }
            let alice = try h.user("alice"), bob = try h.user("bob"), carol = try h.user("carol")
            let start = try h.read { try Stream.head($0.store, user: bob.id) }
            let normal = try h.group(alice, "normal", [bob])
            let hot = try h.group(alice, "hot", [bob, carol])
            for room in [normal, hot] {
                for i in 0..<4 { _ = try h.send(alice, room, "seed-\(room.rawValue)-\(i)").get() }
            }
            let harnesses = [h, other]
            let failures = Locked<[String]>([])
            onThreads(8) { t in
                let hx = harnesses[t % 2]
                let room = t < 4 ? normal : hot
                for i in 0..<10 {
                    let failure: SyncError?
                    switch (t + i) % 3 {
                    case 0: failure = hx.send(alice, room, "c-\(t)-\(i)").failure
                    case 1: failure = self.edit(hx, alice, room, Int64(1 + i % 4), "\"edit \(t) \(i)\"").failure
                    default: failure = hx.write { try MessageChanges.react($0, me: bob.principal, room: room, seq: Int64(1 + i % 4),
                                                                              key: "k\(t)", add: i % 2 == 0) }.failure
                    }
                    if let failure { failures.withLock { $0.append("\(failure)") } }
                }
            }
            #expect(failures.value.isEmpty, "every send, edit and reaction succeeds: \(failures.value.prefix(3))")
            _ = try recall(h, alice, normal, 2).get()
            _ = try recall(h, alice, hot, 2).get()
            // The flush writes the reactions' events (a unit per room).
            try flush(h)

            for room in [normal, hot] {
                let rows = try h.read { ctx -> [Int64] in
                    var seqs: [Int64] = []
                    try ctx.store.messages(room: room, below: .max, above: 0, limit: 10_000, viewer: bob.id) { seqs.append($0.seq); return true }
                    return seqs
                }
                let last = try h.read { try $0.store.room(room)!.lastSeq }
                // Every seq up to last_seq is a row: a message (history) or a change (the stream).
                let keys = (1...last).map { Stream.MessageKey(room: room, seq: $0) }
                let all = try h.read { try $0.store.streamMessages(keys, maxCount: 100_000, maxBodyBytes: .max, viewer: bob.id) }
                #expect(all.count == Int(last) && all.allSatisfy { $0 != nil }, "room \(room): a gap in 1...\(last)")
                for (i, m) in all.enumerated() {
                    guard let m else { continue }
                    if let change = m.change {
                        #expect(change.seq == Int64(i + 1))
                        #expect(m.seq < change.seq, "a change before its message")
                    } else {
                        #expect(m.seq == Int64(i + 1))
                    }
                }
                #expect(rows.count == all.filter { $0?.change == nil }.count)
                let recalled = try h.read { try $0.store.latestMessages(room: room, above: 1, count: 100, viewer: bob.id) }
                    .first { $0.seq == 2 }
                #expect(recalled?.isDeleted == true && recalled?.body == "")
            }
            // Bob's stream: every row of both rooms exactly once, in seq order per room.
            let pulled = try h.pullAll(bob.id, from: start).events
            for room in [normal, hot] {
                let seqs = pulled.filter { $0.room == room && $0.message != nil }.map { $0.message!.change?.seq ?? $0.message!.seq }
                let last = try h.read { try $0.store.room(room)!.lastSeq }
                #expect(seqs == Array(1...last), "room \(room)")
                // Each copy is the message as it is now: the recalled one a tombstone everywhere.
                for e in pulled where e.room == room && e.message?.seq == 2 {
                    #expect(e.message?.isDeleted == true && e.message?.body == "", "\(e.kind)")
                }
            }
        }
    }

    /// A recall racing reads: no read whose snapshot began after the recall's commit sees
    /// the text, through a pull, history or a preview.
    @Test(arguments: allStoreFactories)
    func aRecallRacingReadsNeverShowsTheTextAfterItsCommit(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice"), bob = try h.user("bob")
            let start = try h.read { try Stream.head($0.store, user: bob.id) }
            let room = try h.group(alice, "pair", [bob])
            let sent = try h.send(alice, room, "secret", "\"the secret text\"").get().message
            let committed = Locked<Bool>(false)
            let violations = Locked<[String]>([])
            let stop = Locked<Bool>(false)
            let store = h.store
            let readsAfter = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for _ in 0..<2 {
                DispatchQueue.global().async(group: group) {
                    guard let reader = try? store.openReader() else { return }
                    defer { reader.close() }
                    while !stop.value {
                        let after = committed.value
                        let seen = (try? reader.snapshot { s -> [Message] in
                            let keys = [Stream.MessageKey(room: room, seq: sent.seq)]
                            return try s.streamMessages(keys, maxCount: 10, maxBodyBytes: .max, viewer: bob.id).compactMap { $0 }
                                + s.latestMessages(room: room, above: 0, count: 5, viewer: bob.id)
                        }) ?? []
                        if after, seen.contains(where: { $0.body.contains("secret") }) {
                            violations.withLock { $0.append("a read begun after the recall saw the text") }
                        }
                        if after { readsAfter.signal() }
                    }
                }
            }
            _ = try recall(h, alice, room, sent.seq).get()
            committed.withLock { $0 = true }
            for _ in 0..<20 { readsAfter.wait() }   // reads begun after the commit
            stop.withLock { $0 = true }
            group.wait()
            #expect(violations.value.isEmpty, "\(violations.value.prefix(3))")
            let events = try h.pullAll(bob.id, from: start).events.filter { $0.room == room }
            #expect(events.map(\.kind) == [.member, .message, .delete])
            #expect(events.allSatisfy { !($0.message?.body.contains("secret") ?? false) })
        }
    }

    /// Unread counts messages (tombstones included), never changes; a read marker on a
    /// change's seq has read the messages below it; the preview shows the tombstone.
    @Test(arguments: allStoreFactories)
    func unreadCountsMessagesNotChanges(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice"), bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            for i in 1...3 { _ = try h.send(alice, room, "m\(i)").get() }       // seqs 1-3
            _ = try edit(h, alice, room, 1, "\"one, edited\"").get()            // seq 4
            _ = try recall(h, alice, room, 2).get()                             // seq 5
            _ = try h.send(alice, room, "m4").get()                             // seq 6
            func unread() throws -> Int64 {
                try h.read { try Conversations.unread($0, me: bob.id) }.total
            }
            #expect(try unread() == 4)
            let page = try h.read { try Conversations.list($0, me: bob.id, limit: 10, preview: 3, page: nil) }
            #expect(page.conversations.first?.unread == 4)
            #expect(page.conversations.first?.preview.map(\.seq) == [2, 3, 6])
            #expect(page.conversations.first?.preview.first?.isDeleted == true)
            for (marker, left) in [(Int64(3), Int64(1)), (5, 1), (6, 0)] {
                _ = try h.write { try Conversations.markRead($0, me: bob.principal, room: room, seq: marker) }.get()
                #expect(try unread() == left, "read up to \(marker)")
            }
        }
    }

    /// Reactions: counts and `me` as each reader sees them, a repeat changes nothing, and
    /// a flush writes one `reactions` event per changed message however many reactions.
    @Test(arguments: allStoreFactories)
    func reactionsAreCountedAndFlushedOncePerMessage(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice"), bob = try h.user("bob"), carol = try h.user("carol")
            let room = try h.group(alice, "trio", [bob, carol])
            let m = try h.send(alice, room, "m1").get().message
            let start = try h.read { try Stream.head($0.store, user: alice.id) }
            func react(_ u: TestUser, _ key: String, _ add: Bool = true) throws -> Message {
                try h.write { try MessageChanges.react($0, me: u.principal, room: room, seq: m.seq, key: key, add: add) }.get()
            }
            _ = try react(bob, "👍")
            _ = try react(carol, "👍")
            let again = try react(carol, "👍")
            #expect(again.reactions == [ReactionCount(key: "👍", count: 2, me: true)])
            #expect(again.version == 2, "a repeat adds no version")
            _ = try react(carol, "ok")
            _ = try react(carol, "ok", false)
            let asAlice = try h.read { try $0.store.latestMessages(room: room, above: 0, count: 1, viewer: alice.id) }.first
            #expect(asAlice?.reactions == [ReactionCount(key: "👍", count: 2, me: false)])
            #expect(asAlice?.version == 4)
            #expect(try flush(h) == 1)
            let events = try h.pullAll(alice.id, from: start).events
            #expect(events.map(\.kind) == [.reactions])
            #expect(events.first?.message?.reactions == [ReactionCount(key: "👍", count: 2, me: false)])
            #expect(throws: SyncError.invalid(field: "key", reason: "1-64 bytes of UTF-8 without whitespace or control characters")) {
                try react(bob, "two words")
            }
        }
    }

    /// The change rows of ranges (a catch-up's per-room count leaves them out): edits,
    /// recalls and reactions rows, never a message, per room, within each range only.
    @Test(arguments: allStoreFactories)
    func changeSeqsAreTheChangeRowsOfEachRange(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice"), bob = try h.user("bob")
            let room = try h.direct(alice, bob)
            let other = try h.group(alice, "other", [bob])
            for i in 1...3 { _ = try h.send(alice, room, "m\(i)").get() }   // seqs 1-3
            _ = try h.write { try MessageChanges.edit($0, me: alice.principal, room: room, seq: 2, body: "\"again\"", maxBodyBytes: 1000) }.get()   // 4
            _ = try h.send(alice, room, "m5").get()                                                                            // 5
            _ = try h.write { try MessageChanges.recall($0, me: alice.principal, room: room, seq: 1) }.get()                // 6
            _ = try h.send(alice, other, "o1").get()
            let ranges = [Stream.RoomRange(room: room, after: 0, through: 6), Stream.RoomRange(room: other, after: 0, through: 1)]
            #expect(try h.read { try $0.store.changeSeqs(ranges) } == [room: [4: 2, 6: 1]])
            #expect(try h.read { try $0.store.changeSeqs([Stream.RoomRange(room: room, after: 4, through: 5)]) }.isEmpty)
            #expect(try h.read { try $0.store.changeSeqs([]) }.isEmpty)
        }
    }

    /// The previews of a page of rooms in one read: per room its newest `count` messages
    /// above the given seq, newest first, each as it is now (a recalled one a tombstone);
    /// change rows (edits, recalls)
    /// neither listed nor counted, however many sit among the newest; a room with fewer
    /// has what it has, an empty one none. The same as each room's history page (another
    /// statement) says.
    @Test(arguments: allStoreFactories)
    func previewsOfManyRoomsAreEachRoomsNewestMessages(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice"), bob = try h.user("bob")
            let busy = try h.direct(alice, bob), few = try h.group(alice, "few", [bob])
            let joined = try h.group(alice, "joined", [bob]), empty = try h.group(alice, "empty", [bob])
            for i in 1...6 { _ = try h.send(alice, busy, "b\(i)").get() }                  // seqs 1-6
            _ = try edit(h, alice, busy, 5, "\"five again\"").get()                        // 7
            _ = try edit(h, alice, busy, 6, "\"six again\"").get()                         // 8
            _ = try recall(h, alice, busy, 4).get()                                        // 9
            for i in 1...2 { _ = try h.send(bob, few, "f\(i)").get() }
            for i in 1...5 { _ = try h.send(alice, joined, "j\(i)").get() }
            let asked: [(room: RoomID, above: Int64)] = [(busy, 0), (few, 0), (joined, 3), (empty, 0)]
            let (previews, history) = try h.read { ctx in
                let previews = try ctx.store.latestMessages(rooms: asked, count: 3, viewer: bob.id)
                var history: [RoomID: [Message]] = [:]
                for (room, above) in asked {
                    try ctx.store.messages(room: room, below: .max, above: above, limit: 3, viewer: bob.id) { m in
                        history[room, default: []].append(m)
                        return true
                    }
                }
                return (previews, history)
            }
            #expect(previews[busy]?.map(\.seq) == [6, 5, 4])
            #expect(previews[busy]?.map(\.body) == ["\"six again\"", "\"five again\"", ""])
            #expect(previews[busy]?.map { $0.deletedAt != nil } == [false, false, true])
            #expect(previews[busy]?.map(\.clientMsgID) == ["b6", "b5", "b4"])
            #expect(previews[few]?.map(\.seq) == [2, 1])
            #expect(previews[joined]?.map(\.seq) == [5, 4])
            #expect(previews[empty] == nil)
            #expect(previews.keys.sorted() == [busy, few, joined])
            for room in [busy, few, joined] { #expect(previews[room] == history[room], "room \(room)") }
            #expect(try h.read { try $0.store.latestMessages(rooms: [], count: 3, viewer: bob.id) }.isEmpty)
            #expect(try h.read { try $0.store.latestMessages(rooms: asked, count: 0, viewer: bob.id) }.isEmpty)
        }
    }

    /// Keys of a page read in one go give what each key read alone gives, in order: runs
    /// of one room's consecutive seqs whose first seqs were pruned and whose last are past
    /// the room's end, an edit's and a recall's rows among them, between keys of another
    /// room (one of them a change of a message from before the viewer joined: nothing, and
    /// not counted as found); and the page's bounds cut at the same key whether they fall
    /// inside a run or between runs.
    @Test(arguments: allStoreFactories)
    func aPageOfKeysReadsAsEachKeyAlone(_ factory: any StoreFactory) throws {
        let clock = FakeClock()
        var config = EngineConfiguration()
        config.historyRetentionMillis = 60_000
        try Harness.with(factory, config: config, clock: clock.function) { h in
            let alice = try h.user("alice"), bob = try h.user("bob"), carol = try h.user("carol")
            let busy = try h.direct(alice, bob)
            for i in 1...2 { _ = try h.send(alice, busy, "old\(i)").get() }                      // seqs 1-2, pruned below
            clock.advance(by: 120_000)
            for i in 3...8 { _ = try h.send(i % 3 == 0 ? bob : alice, busy, "b\(i)", "\"\(String(repeating: "x", count: i * 10))\"").get() }
            _ = try edit(h, alice, busy, 4, "\"four again\"").get()   // 9
            _ = try recall(h, alice, busy, 5).get()                     // 10
            let late = try h.group(alice, "late", [carol])
            _ = try h.send(alice, late, "l1").get()                     // 1
            _ = try h.send(alice, late, "l2").get()                     // 2
            _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: late, names: ["bob"]) }.get()
            _ = try edit(h, alice, late, 1, "\"before bob\"").get()   // 3: not bob's to see
            _ = try h.send(alice, late, "l4").get()                     // 4
            let done = DispatchSemaphore(value: 0)
            h.engine.pruneRound { done.signal() }
            done.wait()

            let k = { (room: RoomID, seq: Int64) in Stream.MessageKey(room: room, seq: seq) }
            let keys = [k(busy, 1), k(busy, 2), k(busy, 3), k(busy, 4), k(busy, 5), k(late, 3), k(late, 4), k(busy, 6),
                        k(busy, 7), k(busy, 8), k(busy, 9), k(busy, 10), k(busy, 11), k(busy, 12)]
            let alone: [Message?] = try keys.map { key in
                try h.read { try $0.store.streamMessages([key], maxCount: 1, maxBodyBytes: .max, viewer: bob.id) }.first ?? nil
            }
            #expect(alone.map { $0?.seq } == [nil, nil, 3, 4, 5, nil, 4, 6, 7, 8, 4, 5, nil, nil])
            #expect(alone[10]?.change?.seq == 9 && alone[10]?.body == "\"four again\"")
            #expect(alone[11]?.change?.seq == 10 && alone[11]?.deletedAt != nil)
            func page(_ maxCount: Int, _ maxBodyBytes: Int) throws -> [Message?] {
                try h.read { try $0.store.streamMessages(keys, maxCount: maxCount, maxBodyBytes: maxBodyBytes, viewer: bob.id) }
            }
            /// What the bounds leave of `alone`: up to the first key where `maxCount` were
            /// found before it or their bodies add up to more than `maxBodyBytes`.
            func expected(_ maxCount: Int, _ maxBodyBytes: Int) -> [Message?] {
                var out: [Message?] = [], found = 0, bytes = 0
                for m in alone {
                    if found >= maxCount || bytes > maxBodyBytes { break }
                    if let m { found += 1; bytes += m.body.utf8.count }
                    out.append(m)
                }
                return out
            }
            for (maxCount, maxBodyBytes) in [(100, Int.max), (1, Int.max), (2, Int.max), (3, Int.max), (4, Int.max), (5, Int.max),
                                             (7, Int.max), (9, Int.max), (100, 0), (100, 40), (100, 100), (100, 130),
                                             (100, 200), (100, 250), (6, 150),
                                             // Exactly the bodies up to the late room's last (48) and up to seq 6 (110):
                                             // the next message is still on the page, and read.
                                             (100, 48), (100, 110)] {
                let got = try page(maxCount, maxBodyBytes)
                #expect(got == expected(maxCount, maxBodyBytes), "maxCount \(maxCount), maxBodyBytes \(maxBodyBytes)")
            }
            #expect(try page(100, .max).count == keys.count)
            #expect(try page(4, .max).count == 7)    // the change not bob's to see is not one of the four
            #expect(try page(0, .max).isEmpty)
            #expect(try h.read { try $0.store.streamMessages([], maxCount: 10, maxBodyBytes: .max, viewer: bob.id) }.isEmpty)
        }
    }

    /// A run of keys longer than one read takes (SQLite reads at most 256 at once) comes
    /// back whole and in order: 600 consecutive seqs of one room, as a room's history has
    /// them, with a page bound falling in the third read.
    @Test(arguments: allStoreFactories)
    func aRunLongerThanOneReadComesBackWhole(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice"), bob = try h.user("bob")
            let room = try h.direct(alice, bob)
            for i in 1...600 { _ = try h.send(alice, room, "m\(i)").get() }
            let keys = (1...600).map { Stream.MessageKey(room: room, seq: Int64($0)) }
            let all = try h.read { try $0.store.streamMessages(keys, maxCount: 1_000, maxBodyBytes: .max, viewer: bob.id) }
            #expect(all.map { $0?.seq } == (1...600).map { Int64($0) })
            #expect(all.map { $0?.clientMsgID } == (1...600).map { "m\($0)" })
            let cut = try h.read { try $0.store.streamMessages(keys, maxCount: 555, maxBodyBytes: .max, viewer: bob.id) }
            #expect(cut.map { $0?.seq } == (1...555).map { Int64($0) })
        }
    }

    /// Keys equal as `String`s (canonically equivalent: a precomposed "é" and "e" +
    /// U+0301) are one reaction, whichever spelling each reader sends: the first spelling
    /// stays, a repeat in the other changes nothing, taking it back in either spelling
    /// takes it back, and a count is never above the readers who reacted.
    @Test(arguments: allStoreFactories)
    func canonicallyEquivalentKeysAreOneReaction(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let alice = try h.user("alice"), bob = try h.user("bob")
            let room = try h.direct(alice, bob)
            let m = try h.send(alice, room, "m1").get().message
            func react(_ u: TestUser, _ key: String, _ add: Bool = true) throws -> [ReactionCount] {
                try h.write { try MessageChanges.react($0, me: u.principal, room: room, seq: m.seq, key: key, add: add) }.get().reactions
            }
            let composed = "\u{E9}", decomposed = "e\u{301}"
            func spelledAs(_ r: [ReactionCount]) -> [[UInt8]] { r.map { Array($0.key.utf8) } }
            #expect(try react(alice, composed) == [ReactionCount(key: composed, count: 1, me: true)])
            let repeated = try react(alice, decomposed)
            #expect(repeated.map(\.count) == [1])
            #expect(spelledAs(repeated) == [Array(composed.utf8)])
            #expect(try react(bob, decomposed).map(\.count) == [2])
            let takenBack = try react(alice, decomposed, false)
            #expect(takenBack.map(\.count) == [1])
            #expect(takenBack.map(\.me) == [false])
            let asAlice = try h.read { try $0.store.latestMessages(room: room, above: 0, count: 1, viewer: alice.id) }.first
            #expect(asAlice?.reactions.map(\.count) == [1])
            #expect(asAlice?.reactions.map(\.me) == [false])
            let asBob = try h.read { try $0.store.latestMessages(room: room, above: 0, count: 1, viewer: bob.id) }.first
            #expect(asBob?.reactions.map(\.me) == [true])

            // A row from before this rule, in the other spelling (written here straight to
            // the store): adding it again in the message's spelling changes nothing, and
            // alice takes it back in the spelling she reacted with.
            try h.write { ctx in
                _ = try ctx.store.addReaction(room: room, seq: m.seq, user: alice.id, key: decomposed, at: ctx.now)
                try ctx.store.setReactions(room: room, seq: m.seq, stored: ReactionCounts.encode([composed: 2]), at: ctx.now)
            }.get()
            let again = try react(alice, composed)
            #expect(again.map(\.count) == [2])
            #expect(again.map(\.me) == [true])
            #expect(try react(alice, decomposed, false).map(\.count) == [1])
            #expect(try h.read { try $0.store.latestMessages(room: room, above: 0, count: 1, viewer: alice.id) }.first?
                        .reactions.map(\.me) == [false])
        }
    }

    /// Erasing a user: devices revoked, every message a tombstone with its `delete`
    /// event, every reaction gone, the progress done; the room goes on for the others.
    @Test(arguments: allStoreFactories)
    func erasingAUserTombstonesTheirMessagesAndReactions(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.erasureBatch = 3
        try Harness.with(factory, config: config) { h in
            let alice = try h.user("alice"), bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            for i in 0..<7 { _ = try h.send(bob, room, "b\(i)", "\"bob says \(i)\"").get() }
            let a = try h.send(alice, room, "a0").get().message
            _ = try h.write { try MessageChanges.react($0, me: bob.principal, room: room, seq: a.seq, key: "ok", add: true) }.get()
            let start = try h.read { try Stream.head($0.store, user: alice.id) }
            _ = try h.write { try Erasure.request($0, userName: "bob") }.get()
            let requested = try h.read { try $0.store.erasure(user: bob.id) }
            #expect(requested?.messagesLeft == 7 && requested?.reactionsLeft == 1 && requested?.finishedAt == nil)
            #expect(try h.read { try Accounts.authenticate($0.store, token: bob.token) } == nil, "bob's device still works")
            try erase(h)
            let progress = try h.read { try $0.store.erasure(user: bob.id) }
            #expect(progress?.messagesErased == 7 && progress?.messagesLeft == 0 && progress?.reactionsLeft == 0)
            #expect(progress?.finishedAt != nil)
            let history = try h.read { try Messages.history($0, me: alice.id, room: room, before: nil, limit: 100) }.messages
            #expect(history.filter { $0.sender == "bob" }.allSatisfy { $0.isDeleted && $0.body.isEmpty })
            #expect(history.first { $0.seq == a.seq }?.reactions.isEmpty == true)
            try flush(h)
            let kinds = try h.pullAll(alice.id, from: start).events.map(\.kind)
            #expect(kinds.filter { $0 == .delete }.count == 7 && kinds.filter { $0 == .reactions }.count == 1)
            #expect(try h.send(alice, room, "a1").get().message.seq > a.seq, "the room goes on")
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}

extension StoreConformanceTests {
    /// A member who joined after a message never sees it through a change to it: no
    /// edit, reaction or recall event for it reaches them (normal and hot rooms), while
    /// members from before get each.
    @Test(arguments: allStoreFactories)
    func aChangeNeverShowsAMemberWhatWasSaidBeforeTheyJoined(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 4
        try Harness.with(factory, config: config) { h in
            let alice = try h.user("alice"), bob = try h.user("bob"), carol = try h.user("carol"), dave = try h.user("dave")
            let normal = try h.group(alice, "normal", [bob])
            let hot = try h.group(alice, "hot", [bob, carol])
            let daveStart = try h.read { try Stream.head($0.store, user: dave.id) }
            let bobStart = try h.read { try Stream.head($0.store, user: bob.id) }
            for room in [normal, hot] {
                let seq = try h.send(alice, room, "pre-\(room.rawValue)", "\"PRE-JOIN SECRET\"").get().message.seq
                _ = try h.write { try Rooms.addMembers($0, me: alice.principal, room: room, names: ["dave"]) }.get()
                _ = try edit(h, alice, room, seq, "\"EDITED PRE-JOIN SECRET\"").get()
                _ = try h.write { try MessageChanges.react($0, me: bob.principal, room: room, seq: seq, key: "ok", add: true) }.get()
                try flush(h)
                _ = try recall(h, alice, room, seq).get()
                _ = try h.send(alice, room, "post-\(room.rawValue)", "\"after the join\"").get()
            }
            let daves = try h.pullAll(dave.id, from: daveStart).events
            #expect(!daves.contains { $0.message?.body.contains("PRE-JOIN") ?? false })
            #expect(daves.filter { $0.message != nil }.map(\.kind) == [.message, .message], "dave: \(daves.map(\.kind))")
            let bobs = try h.pullAll(bob.id, from: bobStart).events.filter { $0.message != nil }.map(\.kind)
            #expect(bobs == [.message, .edit, .reactions, .delete, .message, .message, .edit, .reactions, .delete, .message])
        }
    }

    /// Reactions on messages that retention pruned: erasing their author still ends, with
    /// nothing left (retention takes a pruned message's reactions with it).
    @Test(arguments: allStoreFactories)
    func anErasureEndsWhenRetentionPrunedTheMessagesReactedTo(_ factory: any StoreFactory) throws {
        let clock = FakeClock()
        var config = EngineConfiguration()
        config.historyRetentionMillis = 60_000
        config.erasureBatch = 2
        try Harness.with(factory, config: config, clock: clock.function) { h in
            let alice = try h.user("alice"), bob = try h.user("bob")
            let room = try h.group(alice, "pair", [bob])
            for i in 0..<3 {
                let seq = try h.send(alice, room, "old\(i)").get().message.seq
                _ = try h.write { try MessageChanges.react($0, me: bob.principal, room: room, seq: seq, key: "ok", add: true) }.get()
            }
            clock.advance(by: 120_000)
            let pruned = DispatchSemaphore(value: 0)
            h.engine.pruneRound { pruned.signal() }
            #expect(pruned.wait(timeout: .now() + 10) == .success)
            #expect(try h.read { try Messages.history($0, me: alice.id, room: room, before: nil, limit: 10) }.messages.isEmpty)
            _ = try h.write { try Erasure.request($0, userName: "bob") }.get()
            try erase(h)
            let progress = try h.read { try $0.store.erasure(user: bob.id) }
            #expect(progress?.finishedAt != nil && progress?.reactionsLeft == 0)
        }
    }
}
