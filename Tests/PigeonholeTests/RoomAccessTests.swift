import JSON
import Testing

/// Only members see or post in a room: a non-member gets 403 `not_member` everywhere
/// and finds nothing of the room in their stream or first screen; unknown ids are 404.
@Suite(.timeLimit(.minutes(3)))
struct RoomAccessTests {
    @Test func aNonMemberCanReadNothingOfARoom() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let eve = try server.createUser("eve", device: "phone")
            let eveStart = try eve.conversationsCursor()
            let direct = try alice.directRoom(with: "bob")
            let group = try alice.createGroup("secret", members: ["bob"])
            for room in [direct, group] {
                try alice.sendOK(room, "s\(room)", "secret in \(room)")
                expectError(try eve.get("/v1/rooms/\(room)"), 403, "not_member")
                expectError(try eve.get("/v1/rooms/\(room)/members"), 403, "not_member")
                expectError(try eve.get("/v1/rooms/\(room)/messages"), 403, "not_member")
                expectError(try eve.get("/v1/rooms/\(room)/messages?before=2&limit=1"), 403, "not_member")
                expectError(try eve.send(room, "e\(room)", "let me in"), 403, "not_member")
                expectError(try eve.post("/v1/rooms/\(room)/read", ["seq": 1]), 403, "not_member")
                expectError(try eve.delete("/v1/rooms/\(room)/members/bob"), 403, "not_member")
            }
            expectError(try eve.post("/v1/rooms/\(group)/members", ["members": ["eve"]]), 403, "not_member")
            // A failed send created nothing: the room is still at seq 1.
            #expect(try alice.get("/v1/rooms/\(group)").json["last_seq"]?.int64Value == 1)

            // Her stream, first screen and unread counters show nothing of either room.
            let stream = try eve.pullAll(from: eveStart)
            #expect(stream.events.isEmpty)
            #expect(stream.cursor == eveStart)
            let conversations = try eve.get("/v1/conversations")
            #expect(conversations.json["conversations"]?.array.isEmpty == true)
            #expect(conversations.json["cursor"]?.stringValue == eveStart)
            #expect(try eve.get("/v1/unread").json["total"]?.int64Value == 0)
        }
    }

    @Test func unknownRoomsAndUsersAre404() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let missing: Int64 = 987_654
            expectError(try alice.get("/v1/rooms/\(missing)"), 404, "room_not_found")
            expectError(try alice.get("/v1/rooms/\(missing)/members"), 404, "room_not_found")
            expectError(try alice.get("/v1/rooms/\(missing)/messages"), 404, "room_not_found")
            expectError(try alice.send(missing, "m1", "hello?"), 404, "room_not_found")
            expectError(try alice.post("/v1/rooms/\(missing)/read", ["seq": 0]), 404, "room_not_found")
            expectError(try alice.post("/v1/rooms/\(missing)/members", ["members": ["alice"]]), 404, "room_not_found")
            expectError(try alice.get("/v1/rooms/0"), 400, "invalid_request")
            expectError(try alice.get("/v1/rooms/abc"), 400, "invalid_request")
            expectError(try alice.post("/v1/direct/nobody", raw: ""), 404, "user_not_found")
            expectError(try server.admin.post("/v1/admin/users/nobody/devices", json: ["name": "phone"],
                                              token: TestServer.adminToken), 404, "user_not_found")
        }
    }
}
