import JSON
import Testing

/// `GET /v1/rooms/{id}/messages`: backwards paging, and a late joiner seeing only
/// what came after their join.
@Suite(.timeLimit(.minutes(3)))
struct HistoryTests {
    @Test func pagingBackwardsReturnsEveryMessageOnce() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try alice.createGroup("history", members: ["bob"])
            for i in 1...45 { try (i % 2 == 0 ? bob : alice).sendOK(room, "m\(i)", "message \(i)") }

            let newest = try alice.get("/v1/rooms/\(room)/messages?limit=10")
            #expect(newest.status == 200)
            // A page is oldest first; next_before is its oldest seq.
            #expect(newest.json["messages"]?.array.compactMap { $0["seq"]?.int64Value } == Array(36...45))
            #expect(newest.json["next_before"]?.int64Value == 36)

            let all = try alice.fullHistory(room, limit: 10)
            #expect(all.pages == 5)
            let messages = all.messages.compactMap(ReceivedMessage.init)
            #expect(messages.map(\.seq) == Array(1...45))
            #expect(messages.map(\.text) == (1...45).map { "message \($0)" })
            #expect(messages.map(\.sender) == (1...45).map { $0 % 2 == 0 ? "bob" : "alice" })

            // The last page has no next_before.
            let oldest = try alice.get("/v1/rooms/\(room)/messages?before=6&limit=10")
            #expect(oldest.json["messages"]?.array.compactMap { $0["seq"]?.int64Value } == Array(1...5))
            #expect(oldest.json["next_before"] == nil)
            // Exactly a page left: still no next_before.
            let exact = try alice.get("/v1/rooms/\(room)/messages?before=11&limit=10")
            #expect(exact.json["messages"]?.array.count == 10)
            #expect(exact.json["next_before"] == nil)

            // Default page 20; limit bounds.
            let byDefault = try bob.get("/v1/rooms/\(room)/messages")
            #expect(byDefault.json["messages"]?.array.compactMap { $0["seq"]?.int64Value } == Array(26...45))
            #expect(try bob.get("/v1/rooms/\(room)/messages?limit=100").json["messages"]?.array.count == 45)
            expectError(try bob.get("/v1/rooms/\(room)/messages?limit=101"), 400, "invalid_request")
            expectError(try bob.get("/v1/rooms/\(room)/messages?limit=0"), 400, "invalid_request")
            expectError(try bob.get("/v1/rooms/\(room)/messages?before=0"), 400, "invalid_request")
        }
    }

    @Test func aLateMemberSeesOnlyMessagesAfterTheirJoin() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let dave = try server.createUser("dave", device: "phone")
            let room = try alice.createGroup("before dave", members: [])
            for i in 1...30 { try alice.sendOK(room, "old\(i)", "before dave \(i)") }
            let daveStart = try dave.conversationsCursor()

            let added = try alice.post("/v1/rooms/\(room)/members", ["members": ["dave"]])
            #expect(added.status == 200)
            #expect(added.json["added"]?[0]?["user"]?.stringValue == "dave")
            #expect(added.json["added"]?[0]?["joined_seq"]?.int64Value == 30)
            for i in 31...35 { try alice.sendOK(room, "new\(i)", "after dave \(i)") }

            let history = try dave.fullHistory(room, limit: 2)
            #expect(history.messages.compactMap { $0["seq"]?.int64Value } == Array(31...35))
            #expect(history.pages == 3)
            let below = try dave.get("/v1/rooms/\(room)/messages?before=31")
            #expect(below.status == 200)
            #expect(below.json["messages"]?.array.isEmpty == true)
            #expect(below.json["next_before"] == nil)

            let stream = try dave.pullAll(from: daveStart).events
            #expect(stream.first?["type"]?.stringValue == "member")
            #expect(stream.first?["action"]?.stringValue == "added")
            #expect(stream.first?["user"]?.stringValue == "dave")
            #expect(ReceivedMessage.from(stream).map(\.seq) == Array(31...35))

            let conv = try dave.get("/v1/conversations?preview=10").json["conversations"]?[0]
            #expect(conv?["preview"]?.array.compactMap { $0["seq"]?.int64Value } == Array(31...35))
            #expect(conv?["unread"]?.int64Value == 5)
            #expect(conv?["read_seq"]?.int64Value == 30)

            // alice, a member from the start, still pages all 35.
            #expect(try alice.fullHistory(room, limit: 100).messages.count == 35)
        }
    }
}
