import JSON
import Testing

/// A device offline for 1,000 messages in two rooms catches up: page by page with
/// `has_more`, or with `per_room_limit` plus history below each gap.
@Suite(.timeLimit(.minutes(3)))
struct CatchUpTests {
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
}
