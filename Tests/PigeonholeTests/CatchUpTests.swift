import Foundation
import JSON
import Testing

/// A device offline for 1,000 messages in two rooms catches up: page by page with
/// `has_more`, or with `per_room_limit` plus history below each gap.
@Suite(.timeLimit(.minutes(3)))
struct CatchUpTests {
    /// `who` reacts "ok" to the message at `seq`, and the reactions flush writes its
    /// `reactions` row into the room's stream (the next seq) before this returns.
    static func react(_ who: TestDevice, _ room: Int64, _ seq: Int64, on server: TestServer) throws {
        #expect(try MessageChangeTests.put(who, "/v1/rooms/\(room)/messages/\(seq)/reactions/ok").status == 200)
        let flushed = DispatchSemaphore(value: 0)
        server.engine.flushReactions { _ in flushed.signal() }
        flushed.wait()
    }

    /// alice's laptop bootstraps, goes offline; bob sends 600 and carol 400
    /// (interleaved) into their direct rooms with alice.
    private func offlineBacklog(_ server: TestServer, _ body: (_ laptop: TestDevice, _ start: String,
                                                              _ bobRoom: Int64, _ carolRoom: Int64) throws -> Void) throws {
        let laptop = try server.createUser("alice", device: "laptop")
        let bob = try server.createUser("bob", device: "phone")
        let carol = try server.createUser("carol", device: "phone")
        let bobRoom = try bob.directRoom(with: "alice")
        let carolRoom = try carol.directRoom(with: "alice")
        let start = try laptop.conversationsCursor()
        for i in 0..<1000 {
            if i % 5 < 3 { try bob.sendOK(bobRoom, "b\(i)", "bob \(i)") } else { try carol.sendOK(carolRoom, "c\(i)", "carol \(i)") }
        }
        try body(laptop, start, bobRoom, carolRoom)
    }

    @Test func pagesWithHasMoreDeliverEverySeqOnce() throws {
        try TestServer.with { server in
            try offlineBacklog(server) { laptop, start, bobRoom, carolRoom in
                let all = try laptop.pullAll(from: start, limit: 100)
                // 1,000 events in pages of 100: has_more on every page but the last.
                #expect(all.hasMore == Array(repeating: true, count: 9) + [false])
                #expect(all.events.count == 1000)
                let messages = ReceivedMessage.from(all.events)
                #expect(messages.count == 1000)
                #expect(messages.filter { $0.room == bobRoom }.map(\.seq) == Array(1...600))
                #expect(messages.filter { $0.room == carolRoom }.map(\.seq) == Array(1...400))
                // Across rooms, commit order: the order in which they were sent.
                #expect(messages.map(\.clientMsgID) == (0..<1000).map { $0 % 5 < 3 ? "b\($0)" : "c\($0)" })

                let tail = try laptop.pull(all.cursor)
                #expect(tail.json["events"]?.array.isEmpty == true)
                #expect(tail.json["cursor"]?.stringValue == all.cursor)
                expectError(try laptop.pull(start, limit: 1001), 400, "invalid_request")
                expectError(try laptop.pull(start, limit: 0), 400, "invalid_request")
            }
        }
    }

    @Test func perRoomLimitGivesNewestPerRoomAndGapsThenHistoryFillsIn() throws {
        try TestServer.with { server in
            try offlineBacklog(server) { laptop, start, bobRoom, carolRoom in
                let r = try laptop.pull(start, perRoomLimit: 5)
                #expect(r.status == 200)
                let messages = ReceivedMessage.from(r.json["events"]?.array ?? [])
                #expect(r.json["events"]?.array.count == 10)
                #expect(messages.filter { $0.room == bobRoom }.map(\.seq) == Array(596...600))
                #expect(messages.filter { $0.room == carolRoom }.map(\.seq) == Array(396...400))
                #expect(r.json["has_more"]?.boolValue == false)
                let gaps = r.json["gaps"]?.array ?? []
                #expect(gaps.count == 2)
                var gapBefore: [Int64: Int64] = [:]
                for g in gaps {
                    if let room = g["room_id"]?.int64Value { gapBefore[room] = g["before_seq"]?.int64Value }
                }
                #expect(gapBefore == [bobRoom: 596, carolRoom: 396])

                // The same catch-up in small pages: the same events, each once.
                var paged: [ReceivedMessage] = []
                var pagedGaps: [Int64: Int64] = [:]
                var c = start
                for _ in 0..<10 {
                    let page = try laptop.pull(c, limit: 4, perRoomLimit: 5)
                    paged += ReceivedMessage.from(page.json["events"]?.array ?? [])
                    for g in page.json["gaps"]?.array ?? [] {
                        if let room = g["room_id"]?.int64Value { pagedGaps[room] = g["before_seq"]?.int64Value }
                    }
                    c = try #require(page.json["cursor"]?.stringValue)
                    if page.json["has_more"]?.boolValue != true { break }
                }
                #expect(paged == messages)
                #expect(pagedGaps == gapBefore)

                // The cursor is at the end: nothing is left in the stream.
                let cursor = try #require(r.json["cursor"]?.stringValue)
                let tail = try laptop.pull(cursor)
                #expect(tail.json["events"]?.array.isEmpty == true)
                #expect(tail.json["cursor"]?.stringValue == cursor)

                // History below each gap gives the rest, each seq once, oldest first.
                let bobOlder = try laptop.fullHistory(bobRoom, before: 596, limit: 100)
                #expect(bobOlder.messages.compactMap { $0["seq"]?.int64Value } == Array(1...595))
                #expect(bobOlder.pages == 6)
                let carolOlder = try laptop.fullHistory(carolRoom, before: 396, limit: 100)
                #expect(carolOlder.messages.compactMap { $0["seq"]?.int64Value } == Array(1...395))
                #expect(carolOlder.messages.first?["body"]?["text"]?.stringValue == "carol 3")
            }
        }
    }

    /// Changes are not messages: a catch-up counts only messages toward its per-room limit
    /// and delivers every change of a message it did not leave out, so a device that has
    /// a message learns of its recall however many messages came after it; the change of
    /// a message left out comes with the history, and the gap names the oldest message
    /// kept. (Before, changes counted as messages: a recall older than the newest N rows
    /// was left out, and the recalled text stayed on the device.)
    @Test func perRoomLimitCountsMessagesAndDeliversEveryChange() throws {
        try TestServer.with { server in
            let kim = try server.createUser("kim", device: "phone")
            let leo = try server.createUser("leo", device: "phone")
            let room = try kim.directRoom(with: "leo")
            let before = try leo.conversationsCursor()
            try kim.sendOK(room, "secret", "my password is hunter2")   // seq 1
            let has = try leo.pull(before)
            #expect(ReceivedMessage.from(has.json["events"]?.array ?? []).map(\.seq) == [1])
            let cursor = try #require(has.json["cursor"]?.stringValue)
            try kim.sendOK(room, "m2", "two")                            // seq 2
            #expect(try MessageChangeTests.patch(kim, "/v1/rooms/\(room)/messages/2", #"{"body":"two, edited"}"#).status == 200)   // 3
            #expect(try kim.delete("/v1/rooms/\(room)/messages/1").status == 200)   // seq 4: the recall
            for i in 5...9 { try kim.sendOK(room, "m\(i)", "message \(i)") }     // seqs 5-9

            let r = try leo.pull(cursor, perRoomLimit: 3)
            let events = r.json["events"]?.array ?? []
            #expect(MessageChangeTests.changes(events) == ["delete:1"])   // not the edit of 2: left out
            #expect(ReceivedMessage.from(events).map(\.seq) == [7, 8, 9])
            #expect(events.count == 4)
            let gaps = r.json["gaps"]?.array ?? []
            #expect(gaps.map { $0["before_seq"]?.int64Value } == [7])
            #expect(r.json["has_more"]?.boolValue == false)
            // Without the limit: every event, in order.
            let all = try leo.pull(cursor)
            #expect(MessageChangeTests.changes(all.json["events"]?.array ?? []) == ["edit:2", "delete:1"])
            #expect(ReceivedMessage.from(all.json["events"]?.array ?? []).map(\.seq) == [2, 5, 6, 7, 8, 9])
        }
    }

    /// The same in a hot room (read diffusion: the room's own seqs, not inbox rows). A
    /// catch-up counts only messages toward the limit, delivers the recall of a message
    /// the device has however far back it is, and leaves out the changes of the messages
    /// it left out, in one page or in pages of one. (Before, a hot room kept its newest N
    /// seqs, changes among them: the recall was left out, the recalled text stayed on the
    /// device, and a reaction to a message left out came with the page.)
    @Test func perRoomLimitInAHotRoomCountsMessagesAndDeliversEveryChange() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let kim = try server.createUser("kim", device: "phone")
            let leo = try server.createUser("leo", device: "phone")
            _ = try server.createUser("max", device: "phone")
            let room = try kim.createGroup("hot", members: ["leo", "max"])   // 3 members: hot
            let before = try leo.conversationsCursor()
            try kim.sendOK(room, "secret", "my password is hunter2")   // seq 1
            let has = try leo.pull(before)
            #expect(ReceivedMessage.from(has.json["events"]?.array ?? []).map(\.seq) == [1])
            let cursor = try #require(has.json["cursor"]?.stringValue)
            try kim.sendOK(room, "m2", "two")                            // seq 2
            #expect(try MessageChangeTests.patch(kim, "/v1/rooms/\(room)/messages/2", #"{"body":"two, edited"}"#).status == 200)   // 3
            #expect(try kim.delete("/v1/rooms/\(room)/messages/1").status == 200)   // seq 4: the recall
            for i in 5...9 { try kim.sendOK(room, "m\(i)", "message \(i)") }     // seqs 5-9
            for target in [5, 8] {                                       // seqs 10 and 11: reactions
                try Self.react(kim, room, Int64(target), on: server)
            }
            let all = try leo.pull(cursor)
            #expect(MessageChangeTests.changes(all.json["events"]?.array ?? []) == ["edit:2", "delete:1", "reactions:5", "reactions:8"])

            let r = try leo.pull(cursor, perRoomLimit: 3)
            let events = r.json["events"]?.array ?? []
            // Not the edit of 2 nor the reaction to 5: their messages are left out.
            #expect(MessageChangeTests.changes(events) == ["delete:1", "reactions:8"])
            #expect(ReceivedMessage.from(events).map(\.seq) == [7, 8, 9])
            #expect(events.count == 5)
            #expect(r.json["gaps"]?.array.map { $0["before_seq"]?.int64Value } == [7])
            #expect(r.json["has_more"]?.boolValue == false)
            let end = try #require(r.json["cursor"]?.stringValue)
            #expect(try leo.pull(end).json["events"]?.array.isEmpty == true)

            // In pages of one: the recall, the kept messages and their reaction, the same
            // gap, never the edit. A later page's cursor no longer tells what an earlier
            // page left out, so a change of a message left out may come there (it carries
            // the message as it is now), as in the inbox's catch-up.
            var paged: [JSONValue] = []
            var gaps: Set<Int64> = []
            var c = cursor
            for _ in 0..<10 {
                let page = try leo.pull(c, limit: 1, perRoomLimit: 3)
                paged += page.json["events"]?.array ?? []
                for g in page.json["gaps"]?.array ?? [] { if let s = g["before_seq"]?.int64Value { gaps.insert(s) } }
                c = try #require(page.json["cursor"]?.stringValue)
                if page.json["has_more"]?.boolValue != true { break }
            }
            let pagedChanges = MessageChangeTests.changes(paged)
            #expect(pagedChanges.filter { $0 != "reactions:5" } == ["delete:1", "reactions:8"])
            #expect(ReceivedMessage.from(paged).map(\.seq) == [7, 8, 9])
            #expect(gaps == [7])
            #expect(try leo.pull(c).json["events"]?.array.isEmpty == true)

            // Only changes behind the newest messages (nothing left out): all of it, no gap.
            let few = try leo.pull(cursor, perRoomLimit: 7)
            #expect(MessageChangeTests.changes(few.json["events"]?.array ?? []) == ["edit:2", "delete:1", "reactions:5", "reactions:8"])
            #expect(ReceivedMessage.from(few.json["events"]?.array ?? []).map(\.seq) == [2, 5, 6, 7, 8, 9])
            #expect(few.json["gaps"]?.array.isEmpty ?? true)
        }
    }

    /// More recalls of messages the device has than a page takes, all before the newest
    /// messages kept: they come first, a page at a time with `has_more`, then the kept
    /// messages, each once; one big page gives the same.
    @Test func aHotCatchUpWithMoreRecallsThanAPageTakesPagesThroughThem() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let kim = try server.createUser("kim", device: "phone")
            let leo = try server.createUser("leo", device: "phone")
            _ = try server.createUser("max", device: "phone")
            let room = try kim.createGroup("hot", members: ["leo", "max"])
            let before = try leo.conversationsCursor()
            for i in 1...3 { try kim.sendOK(room, "s\(i)", "secret \(i)") }          // seqs 1-3
            let has = try leo.pull(before)
            let cursor = try #require(has.json["cursor"]?.stringValue)
            for i in 4...8 { try kim.sendOK(room, "m\(i)", "message \(i)") }         // seqs 4-8
            for i in 1...3 { #expect(try kim.delete("/v1/rooms/\(room)/messages/\(i)").status == 200) }   // 9-11
            for i in 12...14 { try kim.sendOK(room, "m\(i)", "message \(i)") }       // seqs 12-14

            let whole = try leo.pull(cursor, perRoomLimit: 2)
            #expect(MessageChangeTests.changes(whole.json["events"]?.array ?? []) == ["delete:1", "delete:2", "delete:3"])
            #expect(ReceivedMessage.from(whole.json["events"]?.array ?? []).map(\.seq) == [13, 14])
            #expect(whole.json["gaps"]?.array.map { $0["before_seq"]?.int64Value } == [13])

            var pages: [[JSONValue]] = []
            var more: [Bool] = []
            var c = cursor
            for _ in 0..<10 {
                let page = try leo.pull(c, limit: 1, perRoomLimit: 2)
                pages.append(page.json["events"]?.array ?? [])
                more.append(page.json["has_more"]?.boolValue == true)
                c = try #require(page.json["cursor"]?.stringValue)
                if !more.last! { break }
            }
            #expect(pages.map(\.count) == [1, 1, 1, 1, 1])
            #expect(more == [true, true, true, true, false])
            #expect(MessageChangeTests.changes(pages.flatMap { $0 }) == ["delete:1", "delete:2", "delete:3"])
            #expect(ReceivedMessage.from(pages.flatMap { $0 }).map(\.seq) == [13, 14])
            #expect(try leo.pull(c).json["events"]?.array.isEmpty == true)
        }
    }

    /// Recalls of messages from before the device's user joined are not theirs: a page
    /// whose candidates are only such changes delivers nothing, and still says `has_more`
    /// while the kept messages are ahead (a page that said it was the last would leave
    /// the device thinking it had caught up).
    @Test func aHotCatchUpPageOfChangesNotTheDevicesSaysThereIsMore() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let kim = try server.createUser("kim", device: "phone")
            let leo = try server.createUser("leo", device: "phone")
            _ = try server.createUser("max", device: "phone")
            _ = try server.createUser("nia", device: "phone")
            let room = try kim.createGroup("hot", members: ["max", "nia"])   // hot before leo joins
            for i in 1...3 { try kim.sendOK(room, "s\(i)", "before leo \(i)") }      // seqs 1-3
            try kim.addMembers(room, ["leo"])
            let cursor = try leo.conversationsCursor()
            for i in 4...8 { try kim.sendOK(room, "m\(i)", "message \(i)") }         // seqs 4-8
            for i in 1...3 { #expect(try kim.delete("/v1/rooms/\(room)/messages/\(i)").status == 200) }   // 9-11
            for i in 12...14 { try kim.sendOK(room, "m\(i)", "message \(i)") }       // seqs 12-14

            var events: [JSONValue] = []
            var counts: [Int] = []
            var more: [Bool] = []
            var cursors = [cursor]
            for _ in 0..<10 {
                let page = try leo.pull(cursors.last!, limit: 1, perRoomLimit: 2)
                events += page.json["events"]?.array ?? []
                counts.append(page.json["events"]?.array.count ?? -1)
                more.append(page.json["has_more"]?.boolValue == true)
                cursors.append(try #require(page.json["cursor"]?.stringValue))
                if !more.last! { break }
            }
            // Three pages pass over the three recalls (each page's cursor moves on), then
            // the kept messages.
            #expect(counts == [0, 0, 0, 1, 1])
            #expect(more == [true, true, true, true, false])
            #expect(Set(cursors).count == cursors.count)
            #expect(MessageChangeTests.changes(events).isEmpty)
            #expect(ReceivedMessage.from(events).map(\.seq) == [13, 14])
        }
    }

    /// Reactions to messages a catch-up left out, among the messages it keeps, are passed
    /// over, not counted against the page: a page of two still gets both kept messages.
    /// (A page that read only `limit + 1` seqs of the room stopped at the reactions, with
    /// one message and no `has_more`.)
    @Test func aHotCatchUpPassesOverChangesOfMessagesItLeftOut() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let kim = try server.createUser("kim", device: "phone")
            let leo = try server.createUser("leo", device: "phone")
            _ = try server.createUser("max", device: "phone")
            let room = try kim.createGroup("hot", members: ["leo", "max"])
            let cursor = try leo.conversationsCursor()
            for i in 1...7 { try kim.sendOK(room, "m\(i)", "message \(i)") }         // seqs 1-7
            for target in 2...4 {                                                    // seqs 8-10
                try Self.react(kim, room, Int64(target), on: server)
            }
            try kim.sendOK(room, "m11", "message 11")                                 // seq 11

            let page = try leo.pull(cursor, limit: 2, perRoomLimit: 2)
            let events = page.json["events"]?.array ?? []
            #expect(ReceivedMessage.from(events).map(\.seq) == [7, 11])
            #expect(MessageChangeTests.changes(events).isEmpty)
            #expect(page.json["has_more"]?.boolValue == false)
            #expect(page.json["gaps"]?.array.map { $0["before_seq"]?.int64Value } == [7])
        }
    }

    /// A room that turned hot is caught up to its newest N messages across both parts:
    /// the hot ones first, and the inbox part (before the switch) keeps what they leave.
    /// A change of a message left out, in either part, is not delivered. (Before, each
    /// part kept its own N: twice as many messages, and the gap named the hot part's.)
    @Test func aRoomThatTurnedHotIsCaughtUpToItsNewestMessagesAcrossBothParts() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 4 }) { server in
            let kim = try server.createUser("kim", device: "phone")
            let leo = try server.createUser("leo", device: "phone")
            let max = try server.createUser("max", device: "phone")
            _ = try server.createUser("nia", device: "phone")
            let room = try kim.createGroup("crew", members: ["leo", "max"])        // 3 members: not hot
            let cursor = try leo.conversationsCursor()
            for i in 1...5 { try kim.sendOK(room, "n\(i)", "normal \(i)") }          // seqs 1-5, in inboxes
            try kim.addMembers(room, ["nia"])                                      // the 4th: hot from here
            #expect(try server.count("SELECT hot FROM rooms WHERE id = ?", [.integer(room)]) == 1)
            for i in 6...10 { try kim.sendOK(room, "h\(i)", "hot \(i)") }           // seqs 6-10
            for (who, target) in [(kim, 2), (kim, 5), (max, 5)] {                   // seqs 11-13
                try Self.react(who, room, Int64(target), on: server)
            }
            for i in 14...15 { try kim.sendOK(room, "h\(i)", "hot \(i)") }          // seqs 14-15

            func catchUp(_ n: Int) throws -> (seqs: [Int64], changes: [String], gaps: [Int64?]) {
                let r = try leo.pull(cursor, perRoomLimit: n)
                #expect(r.json["has_more"]?.boolValue == false)
                let events = r.json["events"]?.array ?? []
                return (ReceivedMessage.from(events).map(\.seq), MessageChangeTests.changes(events),
                        r.json["gaps"]?.array.map { $0["before_seq"]?.int64Value } ?? [])
            }
            // The newest two are both hot: nothing of the inbox part, nor the reactions to 2 and 5.
            let two = try catchUp(2)
            #expect(two.seqs == [14, 15])
            #expect(two.changes.isEmpty)
            #expect(two.gaps == [14])
            // Seven hot messages and two of the inbox part: the reactions to 5, not to 2.
            let nine = try catchUp(9)
            #expect(nine.seqs == [4, 5, 6, 7, 8, 9, 10, 14, 15])
            #expect(nine.changes == ["reactions:5", "reactions:5"])
            #expect(nine.gaps == [4])
            // More than there are: everything, every change, no gap.
            let all = try catchUp(12)
            #expect(all.seqs == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15])
            #expect(all.changes == ["reactions:2", "reactions:5", "reactions:5"])
            #expect(all.gaps.isEmpty)
            // Exactly the hot ones: the inbox part keeps none, the gap is the oldest hot message.
            let seven = try catchUp(7)
            #expect(seven.seqs == [6, 7, 8, 9, 10, 14, 15])
            #expect(seven.changes.isEmpty)
            #expect(seven.gaps == [6])
        }
    }

    /// Of a message's changes left out, only the newest comes: it carries the message as
    /// it is now (both reactions in its counts).
    @Test func aHotCatchUpBringsTheNewestChangeOfAMessageTheDeviceHas() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let kim = try server.createUser("kim", device: "phone")
            let leo = try server.createUser("leo", device: "phone")
            let max = try server.createUser("max", device: "phone")
            let room = try kim.createGroup("hot", members: ["leo", "max"])
            let before = try leo.conversationsCursor()
            try kim.sendOK(room, "m1", "one")                                        // seq 1
            let cursor = try #require(try leo.pull(before).json["cursor"]?.stringValue)
            for who in [kim, max] {                                                  // seqs 2-3
                try Self.react(who, room, 1, on: server)
            }
            for i in 4...8 { try kim.sendOK(room, "m\(i)", "message \(i)") }          // seqs 4-8
            let r = try leo.pull(cursor, perRoomLimit: 2)
            let events = r.json["events"]?.array ?? []
            #expect(MessageChangeTests.changes(events) == ["reactions:1"])
            #expect(events.first?["message"]?["reactions"]?.array.first?["count"]?.int64Value == 2)
            #expect(ReceivedMessage.from(events).map(\.seq) == [7, 8])
            #expect(r.json["gaps"]?.array.map { $0["before_seq"]?.int64Value } == [7])
        }
    }

    /// A hot room's changes are looked at in its newest `catchUpScanWindow` seqs only (a
    /// room with a million reactions costs a catch-up no more): a recall of a message the
    /// device has comes when it is among them; further back, the history shows it.
    @Test func aHotCatchUpLooksForChangesInItsNewestWindow() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3; $0.api.engine.catchUpScanWindow = 6 }) { server in
            let kim = try server.createUser("kim", device: "phone")
            let leo = try server.createUser("leo", device: "phone")
            _ = try server.createUser("max", device: "phone")
            let room = try kim.createGroup("hot", members: ["leo", "max"])
            let before = try leo.conversationsCursor()
            for i in 1...2 { try kim.sendOK(room, "s\(i)", "secret \(i)") }          // seqs 1-2
            let cursor = try #require(try leo.pull(before).json["cursor"]?.stringValue)
            #expect(try kim.delete("/v1/rooms/\(room)/messages/1").status == 200)  // seq 3
            for i in 4...8 { try kim.sendOK(room, "m\(i)", "message \(i)") }         // seqs 4-8
            #expect(try kim.delete("/v1/rooms/\(room)/messages/2").status == 200)  // seq 9
            for i in 10...12 { try kim.sendOK(room, "m\(i)", "message \(i)") }       // seqs 10-12

            // The window is seqs 7-12: the recall of 2 is in it, the recall of 1 is not.
            let r = try leo.pull(cursor, perRoomLimit: 2)
            let events = r.json["events"]?.array ?? []
            #expect(MessageChangeTests.changes(events) == ["delete:2"])
            #expect(ReceivedMessage.from(events).map(\.seq) == [11, 12])
            #expect(r.json["gaps"]?.array.map { $0["before_seq"]?.int64Value } == [11])
            // The history below the gap shows the recall of 1.
            let history = try leo.get("/v1/rooms/\(room)/messages?before=11&limit=100")
            let one = history.json["messages"]?.array.first { $0["seq"]?.int64Value == 1 }
            #expect(one?["deleted"]?.boolValue == true)
        }
    }
}
