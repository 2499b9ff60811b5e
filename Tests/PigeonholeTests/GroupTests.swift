import JSON
import Testing

/// Group rooms: create, read, members, add and remove, and the `member` events the
/// affected users find in their streams.
@Suite(.timeLimit(.minutes(3)))
struct GroupTests {
    /// `(action, user, by)` of the member events of `room` in a stream.
    private func memberEvents(_ events: [JSONValue], room: Int64) -> [[String?]] {
        events.filter { $0["type"]?.stringValue == "member" && $0["room_id"]?.int64Value == room }
            .map { [$0["action"]?.stringValue, $0["user"]?.stringValue, $0["by"]?.stringValue] }
    }

    @Test func createReadAddRemove() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let dave = try server.createUser("dave", device: "phone")
            let starts = try [alice, bob, carol, dave].map { try $0.conversationsCursor() }

            let created = try alice.post("/v1/rooms", ["name": "Trip to Lisbon", "members": ["bob", "carol", "alice"]])
            #expect(created.status == 201)
            let room = try #require(created.json["id"]?.int64Value)
            #expect(created.json["kind"]?.stringValue == "group")
            #expect(created.json["name"]?.stringValue == "Trip to Lisbon")
            #expect(created.json["member_count"]?.int64Value == 3)
            #expect(created.json["last_seq"]?.int64Value == 0)
            #expect(created.json["peer"] == nil)

            let got = try carol.get("/v1/rooms/\(room)")
            #expect(got.status == 200)
            #expect(got.json["id"]?.int64Value == room)
            #expect(got.json["name"]?.stringValue == "Trip to Lisbon")

            let members = try bob.get("/v1/rooms/\(room)/members")
            #expect(members.status == 200)
            let list = members.json["members"]?.array ?? []
            #expect(list.compactMap { $0["user"]?.stringValue } == ["alice", "bob", "carol"])
            #expect(list.compactMap { $0["role"]?.stringValue } == ["owner", "member", "member"])

            try alice.sendOK(room, "a1", "who is in?")
            // Any member may invite; inviting a member again adds nobody.
            let added = try bob.post("/v1/rooms/\(room)/members", ["members": ["dave", "carol"]])
            #expect(added.status == 200)
            #expect(added.json["added"]?.array.compactMap { $0["user"]?.stringValue } == ["dave"])
            #expect(added.json["added"]?[0]?["joined_seq"]?.int64Value == 1)
            #expect(try bob.post("/v1/rooms/\(room)/members", ["members": ["dave"]]).json["added"]?.array.isEmpty == true)
            expectError(try bob.post("/v1/rooms/\(room)/members", ["members": ["nobody"]]), 404, "user_not_found")
            expectError(try bob.post("/v1/rooms/\(room)/members", ["members": []]), 400, "invalid_request")
            #expect(try dave.get("/v1/rooms/\(room)").json["member_count"]?.int64Value == 4)

            // carol leaves; bob may not remove dave; alice (owner) may.
            #expect(try carol.delete("/v1/rooms/\(room)/members/carol").status == 204)
            expectError(try bob.delete("/v1/rooms/\(room)/members/dave"), 403, "forbidden")
            #expect(try alice.delete("/v1/rooms/\(room)/members/dave").status == 204)
            expectError(try alice.delete("/v1/rooms/\(room)/members/dave"), 400, "invalid_request")

            let after = try alice.get("/v1/rooms/\(room)/members").json["members"]?.array ?? []
            #expect(after.compactMap { $0["user"]?.stringValue } == ["alice", "bob"])
            #expect(try alice.get("/v1/rooms/\(room)").json["member_count"]?.int64Value == 2)
            expectError(try carol.get("/v1/rooms/\(room)"), 403, "not_member")
            expectError(try dave.send(room, "d1", "still here?"), 403, "not_member")
            // What is said after they left is not theirs to see.
            try bob.sendOK(room, "b-after", "just us now")

            // The member events each affected user finds in their own stream.
            let streams = try zip([alice, bob, carol, dave], starts).map { try $0.pullAll(from: $1).events }
            #expect(memberEvents(streams[0], room: room) == [
                ["created", "alice", nil], ["added", "dave", "bob"], ["left", "carol", nil], ["removed", "dave", "alice"],
            ])
            #expect(memberEvents(streams[1], room: room) == memberEvents(streams[0], room: room))
            #expect(memberEvents(streams[2], room: room) == [
                ["created", "alice", nil], ["added", "dave", "bob"], ["left", "carol", nil],
            ])
            #expect(memberEvents(streams[3], room: room) == [
                ["added", "dave", "bob"], ["left", "carol", nil], ["removed", "dave", "alice"],
            ])
            // dave never sees the message sent before he joined.
            #expect(ReceivedMessage.from(streams[3]).isEmpty)
            #expect(ReceivedMessage.from(streams[2]).map(\.clientMsgID) == ["a1"])
            #expect(ReceivedMessage.from(streams[0]).map(\.clientMsgID) == ["a1", "b-after"])
        }
    }

    @Test func directRoomMembersCannotChangeAndNamesAreChecked() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            let direct = try alice.directRoom(with: "bob")
            expectError(try alice.post("/v1/rooms/\(direct)/members", ["members": ["carol"]]), 403, "forbidden")
            expectError(try alice.delete("/v1/rooms/\(direct)/members/bob"), 403, "forbidden")
            expectError(try alice.post("/v1/rooms", ["name": "", "members": []]), 400, "invalid_request")
            expectError(try alice.post("/v1/rooms", ["members": ["bob"]]), 400, "invalid_request")
            expectError(try alice.post("/v1/rooms", ["name": "x", "members": "bob"]), 400, "invalid_request")
            expectError(try alice.post("/v1/rooms", ["name": "x", "members": ["bob", "nobody"]]), 404, "user_not_found")
        }
    }

    /// The member list pages (issue 20, item 2: a 10,001-member room answered 0.7 MB at
    /// once): `limit` per page by name, `next_after` until the last page, every member
    /// exactly once.
    @Test func theMemberListPagesByName() throws {
        try TestServer.with { server in
            let owner = try server.createUser("aaa-owner", device: "phone")
            var names: [String] = []
            for i in 0..<250 {
                let name = "m\(String(format: "%03d", (i * 37) % 250))"
                try server.createUser(name)
                names.append(name)
            }
            let room = try owner.createGroup("big", members: names)
            #expect(try owner.get("/v1/limits").json["members_limit_max"]?.int64Value == 1000)

            let first = try owner.get("/v1/rooms/\(room)/members")
            #expect(first.json["members"]?.array.count == 100)   // the default page
            var seen: [String] = []
            var after: String? = nil
            var pages = 0
            repeat {
                let r = try owner.get("/v1/rooms/\(room)/members?limit=64" + (after.map { "&after=\($0)" } ?? ""))
                #expect(r.status == 200)
                let page = (r.json["members"]?.array ?? []).compactMap { $0["user"]?.stringValue }
                #expect(page.count <= 64)
                seen += page
                after = r.json["next_after"]?.stringValue
                if let after { #expect(after == page.last) }
                pages += 1
            } while after != nil && pages < 10
            #expect(pages == 4)
            #expect(seen == (["aaa-owner"] + names).sorted())
            expectError(try owner.get("/v1/rooms/\(room)/members?limit=0"), 400, "invalid_request")
            expectError(try owner.get("/v1/rooms/\(room)/members?limit=1001"), 400, "invalid_request")
            expectError(try owner.get("/v1/rooms/\(room)/members?after=" + String(repeating: "a", count: 257)), 400, "invalid_request")
        }
    }

    /// A user is in at most `--rooms-per-user` rooms (issue 20, item 1: every hot room
    /// takes a place in the user's cursor, and at 1,150 hot rooms every cursor the server
    /// issued was over its own limit). Whoever adds them past it gets a clear 409; the
    /// user's sync keeps working, and a place frees when they leave a room.
    @Test func aUserIsInAtMostTheRoomLimit() throws {
        try TestServer.with(configure: { $0.api.engine.maxRoomsPerUser = 3; $0.api.engine.hotThreshold = 2 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let dave = try server.createUser("dave", device: "phone")
            #expect(try bob.get("/v1/limits").json["rooms_per_user_max"]?.int64Value == 3)
            // Alice is put in three hot rooms by others (each of them is in one).
            let r1 = try bob.createGroup("one", members: ["alice"])
            _ = try carol.createGroup("two", members: ["alice"])
            _ = try dave.directRoom(with: "alice")
            // A fourth room for alice: refused to whoever asks, in every way of asking.
            let created = try bob.post("/v1/rooms", ["name": "four", "members": ["alice", "carol"]])
            expectError(created, 409, "room_limit")
            #expect(created.json["error"]?["message"]?.stringValue?.contains("alice") == true)
            let frank = try server.createUser("frank", device: "phone")
            let g = try frank.createGroup("five", members: ["carol"])
            expectError(try frank.post("/v1/rooms/\(g)/members", ["members": ["alice"]]), 409, "room_limit")
            let direct = try server.createUser("gina", device: "phone").post("/v1/direct/alice", raw: "")
            expectError(direct, 409, "room_limit")
            // Adding her again to a room she is in is no new room: still fine.
            #expect(try bob.post("/v1/rooms/\(r1)/members", ["members": ["alice"]]).status == 200)
            // Her sync works, and once she leaves a room there is a place again.
            #expect(try alice.pull(try alice.conversationsCursor()).status == 200)
            #expect(try alice.delete("/v1/rooms/\(r1)/members/alice").status == 204)
            #expect(try bob.post("/v1/rooms", ["name": "four", "members": ["alice"]]).status == 201)
        }
    }
}

