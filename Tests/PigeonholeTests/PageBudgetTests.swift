import JSON
import SyncAPI
import Testing

/// Pages under a byte budget (issue 13 item 4): a sync, conversations or history page
/// over large messages ends early (`has_more`, `next_page`, `next_before`), always with
/// at least one item, and following the continuation returns every item exactly once,
/// in order. The budget is set low here (64 KiB) so a few dozen 4 KB messages cross it.
@Suite(.timeLimit(.minutes(3)))
struct PageBudgetTests {
    static let budget = 64 * 1024

    static func config(budget: Int = Self.budget, hotThreshold: Int = 3) -> (inout PigeonholeServer.Configuration) -> Void {
        { c in
            c.api.engine.maxPageBytes = budget
            c.api.engine.hotThreshold = hotThreshold
        }
    }

    /// About 4 KB of text, distinct per message.
    static func big(_ tag: String) -> String { tag + " " + String(repeating: "x", count: 4000) }

    /// The client_msg_ids of a list of events or messages, in order.
    static func ids(_ messages: [ReceivedMessage]) -> [String] { messages.map(\.clientMsgID) }

    /// Pages `/v1/sync` from `cursor` until `has_more` is false; every page must be
    /// within the budget (plus one event's slack for the estimate) and, while
    /// `has_more`, not empty.
    static func pullPages(_ device: TestDevice, from cursor: String, limit: Int, perRoomLimit: Int? = nil)
        throws -> (events: [JSONValue], pages: [Int], cursor: String) {
        var cursor = cursor
        var events: [JSONValue] = []
        var pages: [Int] = []
        while pages.count < 1000 {
            let r = try device.pull(cursor, limit: limit, perRoomLimit: perRoomLimit)
            try #require(r.status == 200, "\(r.status) \(r.text)")
            let page = r.json["events"]?.array ?? []
            #expect(r.body.count <= budget + 4096, "page of \(r.body.count) bytes")
            events += page
            pages.append(page.count)
            cursor = try #require(r.json["cursor"]?.stringValue)
            guard r.json["has_more"]?.boolValue == true else { break }
            #expect(!page.isEmpty, "a page with has_more must make progress")
        }
        return (events, pages, cursor)
    }

    @Test func syncPagesOverBigMessagesInNormalAndHotRoomsStopEarlyAndDeliverEachOnceInOrder() throws {
        try TestServer.with(configure: Self.config()) { server in
            let alice = try server.createUser("alice", device: "laptop")
            let bob = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            let start = try alice.conversationsCursor()
            let direct = try bob.directRoom(with: "alice")
            let hot = try bob.createGroup("big", members: ["alice", "carol"])   // 3 members: hot
            #expect(try alice.get("/v1/rooms/\(hot)").json["hot"]?.boolValue == true)
            var sent: [String] = []
            for i in 0..<60 {
                let (room, id) = i % 3 == 0 ? (hot, "h\(i)") : (direct, "d\(i)")
                try bob.sendOK(room, id, Self.big(id))
                sent.append(id)
            }

            // limit=1000 over ~250 KB: the first page stops at the budget, has_more says so.
            let first = try alice.pull(start, limit: 1000)
            let firstMessages = ReceivedMessage.from(first.json["events"]?.array ?? [])
            #expect(first.json["has_more"]?.boolValue == true)
            #expect(firstMessages.count >= 8 && firstMessages.count < 20, "\(firstMessages.count) messages in the first page")
            #expect(first.body.count <= Self.budget)

            for limit in [1000, 7] {
                let all = try Self.pullPages(alice, from: start, limit: limit)
                let messages = ReceivedMessage.from(all.events)
                #expect(Self.ids(messages) == sent, "limit \(limit)")
                #expect(messages.allSatisfy { $0.text == Self.big($0.clientMsgID) })
                #expect(all.pages.count >= 4)
                // The end: nothing left, the cursor stays.
                let tail = try alice.pull(all.cursor)
                #expect(tail.json["events"]?.array.isEmpty == true)
                #expect(tail.json["has_more"]?.boolValue == false)
            }
        }
    }

    /// The per_room_limit catch-up under the budget: the newest N of each room (normal
    /// and hot), each once, in order, over as many pages as the budget needs, each page
    /// within it; and the same gaps as one unbounded page would report.
    @Test func perRoomCatchUpOverBigMessagesKeepsTheNewestPerRoomAcrossBudgetedPages() throws {
        try TestServer.with(configure: Self.config()) { server in
            let alice = try server.createUser("alice", device: "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let start = try alice.conversationsCursor()
            let bobRoom = try bob.directRoom(with: "alice")
            let carolRoom = try carol.directRoom(with: "alice")
            let hot = try bob.createGroup("big", members: ["alice", "carol"])
            var sent: [(room: Int64, id: String)] = []
            for i in 0..<90 {
                let (sender, room, id) = [(bob, bobRoom, "b\(i)"), (carol, carolRoom, "c\(i)"), (bob, hot, "h\(i)")][i % 3]
                try sender.sendOK(room, id, Self.big(id))
                sent.append((room, id))
            }
            let perRoom = 12
            var expected: [String] = []
            for room in [bobRoom, carolRoom, hot] {
                expected += sent.filter { $0.room == room }.suffix(perRoom).map(\.id)
            }
            expected = sent.map(\.id).filter(expected.contains)   // in commit order

            let all = try Self.pullPages(alice, from: start, limit: 1000, perRoomLimit: perRoom)
            #expect(Self.ids(ReceivedMessage.from(all.events)) == expected)
            #expect(all.pages.count >= 2, "36 messages of 4 KB need more than one 64 KiB page: \(all.pages)")
            // Gaps: the same as the first page reports, from where each room's kept part starts.
            let r = try alice.pull(start, limit: 1000, perRoomLimit: perRoom)
            var gaps: [Int64: Int64] = [:]
            for g in r.json["gaps"]?.array ?? [] {
                if let room = g["room_id"]?.int64Value { gaps[room] = g["before_seq"]?.int64Value }
            }
            #expect(gaps == [bobRoom: 19, carolRoom: 19, hot: 19])
            let tail = try alice.pull(all.cursor)
            #expect(tail.json["events"]?.array.isEmpty == true)
        }
    }

    @Test func conversationPagesWithBigPreviewsEndEarlyAndListEveryRoomOnce() throws {
        try TestServer.with(configure: Self.config()) { server in
            let alice = try server.createUser("alice", device: "laptop")
            let bob = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            var rooms: [Int64] = []
            for i in 0..<24 {
                // Every third room is hot (three members at threshold 3).
                let room = try bob.createGroup("g\(i)", members: i % 3 == 0 ? ["alice", "carol"] : ["alice"])
                for k in 0..<3 { try bob.sendOK(room, "g\(i)-\(k)", Self.big("g\(i)-\(k)")) }
                rooms.append(room)
            }
            var listed: [Int64] = []
            var sizes: [Int] = []
            var page: String? = nil
            repeat {
                var path = "/v1/conversations?limit=100&preview=3"
                if let page { path += "&page=\(page)" }
                let r = try alice.get(path)
                try #require(r.status == 200, "\(r.status) \(r.text)")
                let conversations = r.json["conversations"]?.array ?? []
                #expect(!conversations.isEmpty)
                #expect(r.body.count <= Self.budget + 4096)
                for c in conversations {
                    #expect(c["preview"]?.array.count == 3)
                    listed.append(try #require(c["id"]?.int64Value))
                }
                sizes.append(conversations.count)
                page = r.json["next_page"]?.stringValue
            } while page != nil && sizes.count < 100
            // ~12 KB per conversation: about 5 per 64 KiB page, newest activity first.
            #expect(sizes.count >= 4, "\(sizes)")
            #expect(sizes.dropLast().allSatisfy { $0 < 24 })
            #expect(listed == rooms.reversed())
        }
    }

    @Test func historyPagesOfBigMessagesEndEarlyAndNextBeforeGivesEachSeqOnce() throws {
        try TestServer.with(configure: Self.config()) { server in
            let alice = try server.createUser("alice", device: "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            for i in 1...50 { try bob.sendOK(room, "m\(i)", Self.big("m\(i)")) }
            let first = try alice.get("/v1/rooms/\(room)/messages?limit=100")
            let seqs = first.json["messages"]?.array.compactMap { $0["seq"]?.int64Value } ?? []
            #expect(first.body.count <= Self.budget)
            #expect(seqs.count < 50 && seqs.last == 50)
            #expect(first.json["next_before"]?.int64Value == seqs.first)
            let all = try alice.fullHistory(room, limit: 100)
            #expect(all.messages.compactMap { $0["seq"]?.int64Value } == Array(1...50))
            #expect(all.pages >= 4)
        }
    }

    /// A budget below one message still moves: one message per page, never an empty page.
    @Test func aBudgetBelowOneMessageStillReturnsOneItemPerPage() throws {
        try TestServer.with(configure: Self.config(budget: 1000)) { server in
            let alice = try server.createUser("alice", device: "laptop")
            let bob = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            let start = try alice.conversationsCursor()
            let direct = try bob.directRoom(with: "alice")
            let hot = try bob.createGroup("big", members: ["alice", "carol"])
            var sent: [String] = []
            for i in 0..<6 {
                let id = "m\(i)"
                try bob.sendOK(i % 2 == 0 ? direct : hot, id, Self.big(id))
                sent.append(id)
            }
            var cursor = start
            var got: [String] = []
            for _ in 0..<50 {
                let r = try alice.pull(cursor, limit: 100)
                let events = r.json["events"]?.array ?? []
                // Small member events may share a page; a 4 KB message never has company.
                #expect(!events.isEmpty)
                if !ReceivedMessage.from(events).isEmpty { #expect(events.count == 1) }
                got += Self.ids(ReceivedMessage.from(events))
                cursor = try #require(r.json["cursor"]?.stringValue)
                if r.json["has_more"]?.boolValue != true { break }
            }
            #expect(got == sent)
            let history = try alice.fullHistory(direct, limit: 100)
            #expect(history.messages.count == 3 && history.pages == 3)
            let list = try alice.get("/v1/conversations?limit=10&preview=1")
            #expect(list.json["conversations"]?.array.count == 1)
            #expect(list.json["next_page"]?.stringValue != nil)
            #expect(server.engine.config.maxPageBytes == 1000)
        }
    }
}
