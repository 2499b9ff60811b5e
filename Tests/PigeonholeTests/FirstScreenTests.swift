import Dispatch
import JSON
import Testing

/// The conversation list with unread counts, read markers across devices, and
/// `GET /v1/unread`.
@Suite(.timeLimit(.minutes(3)))
struct FirstScreenTests {
    @Test func unreadMatchesWhatWasSentAndClearsOnBothDevices() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let direct = try bob.directRoom(with: "alice")
            for i in 1...4 { try bob.sendOK(direct, "b\(i)", "bob \(i)") }
            let group = try carol.createGroup("book club", members: ["alice", "bob"])
            for i in 1...2 { try carol.sendOK(group, "c\(i)", "carol \(i)") }

            let list = try phone.get("/v1/conversations?preview=3")
            #expect(list.status == 200)
            let rooms = list.json["conversations"] ?? .null
            // Newest activity first: the group, then the direct room.
            #expect(rooms.array.compactMap { $0["id"]?.int64Value } == [group, direct])
            #expect(rooms[0]?["name"]?.stringValue == "book club")
            #expect(rooms[0]?["kind"]?.stringValue == "group")
            #expect(rooms[0]?["unread"]?.int64Value == 2)
            #expect(rooms[0]?["last_seq"]?.int64Value == 2)
            #expect(rooms[0]?["read_seq"]?.int64Value == 0)
            #expect(rooms[1]?["kind"]?.stringValue == "direct")
            #expect(rooms[1]?["peer"]?.stringValue == "bob")
            #expect(rooms[1]?["unread"]?.int64Value == 4)
            #expect(rooms[1]?["read_seq"]?.int64Value == 0)
            // The last 3 messages, oldest first, in the one message shape.
            let preview = rooms[1]?["preview"]?.array.compactMap(ReceivedMessage.init) ?? []
            #expect(preview.map(\.seq) == [2, 3, 4])
            #expect(preview.map(\.text) == ["bob 2", "bob 3", "bob 4"])
            #expect(list.json["next_page"] == nil)

            let unread = try phone.get("/v1/unread")
            #expect(unread.status == 200)
            #expect(unread.json["total"]?.int64Value == 6)
            let perRoom = Dictionary(uniqueKeysWithValues: (unread.json["rooms"]?.array ?? []).compactMap { r in
                r["room_id"]?.int64Value.flatMap { id in r["unread"]?.int64Value.map { (id, $0) } }
            })
            #expect(perRoom == [direct: 4, group: 2])

            // The laptop is synced up to here; the phone reads the direct room.
            let laptopCursor = try laptop.conversationsCursor()
            let read = try phone.post("/v1/rooms/\(direct)/read", ["seq": 4])
            #expect(read.status == 200)
            #expect(read.json["room_id"]?.int64Value == direct)
            #expect(read.json["read_seq"]?.int64Value == 4)

            for device in [phone, laptop] {
                let rooms = try device.get("/v1/conversations").json["conversations"]?.array ?? []
                let d = rooms.first { $0["id"]?.int64Value == direct }
                #expect(d?["unread"]?.int64Value == 0, "\(device.name)")
                #expect(d?["read_seq"]?.int64Value == 4, "\(device.name)")
            }
            // The laptop clears its badge from a `read` event in its own stream.
            let events = try laptop.pullAll(from: laptopCursor).events
            #expect(events.count == 1)
            #expect(events.first?["type"]?.stringValue == "read")
            #expect(events.first?["room_id"]?.int64Value == direct)
            #expect(events.first?["read_seq"]?.int64Value == 4)

            let after = try laptop.get("/v1/unread")
            #expect(after.json["total"]?.int64Value == 2)
            #expect(after.json["rooms"]?.array.count == 1)
            #expect(after.json["rooms"]?[0]?["room_id"]?.int64Value == group)
        }
    }

    /// A message moves its room to the top of every member's list, with the message's
    /// time as the room's activity (written once per room per group commit), including
    /// when several rooms get messages in the same commit.
    @Test func aMessageMovesItsRoomUpForEveryMember() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let first = try bob.createGroup("first", members: ["alice", "carol"])
            let second = try carol.createGroup("second", members: ["alice", "bob"])
            func order() throws -> [Int64] {
                try alice.get("/v1/conversations").json["conversations"]?.array.compactMap { $0["id"]?.int64Value } ?? []
            }
            #expect(try order() == [second, first])
            let sent = try bob.send(first, "m1", "hello").json
            let list = try alice.get("/v1/conversations").json["conversations"]?.array ?? []
            #expect(list.compactMap { $0["id"]?.int64Value } == [first, second])
            #expect(list.first?["last_active_at"] == sent["sent_at"])
            // Both rooms in flight at once (likely one commit): each lands at its message's time.
            let group = DispatchGroup()
            for (device, room) in [(bob, first), (carol, second)] {
                group.enter()
                DispatchQueue.global().async {
                    _ = try? device.send(room, "m2-\(room)", "again")
                    group.leave()
                }
            }
            group.wait()
            let after = try carol.get("/v1/conversations").json["conversations"]?.array ?? []
            for room in after {
                let id = room["id"]?.int64Value ?? 0
                let newest = try carol.get("/v1/rooms/\(id)/messages?limit=1").json["messages"]?.array.last
                #expect(room["last_active_at"] == newest?["sent_at"], "room \(id)")
            }
        }
    }

    @Test func readMarkersOnlyMoveForwardAndStayInRange() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            for i in 1...5 { try bob.sendOK(room, "b\(i)", "bob \(i)") }
            let cursor = try phone.conversationsCursor()

            #expect(try phone.post("/v1/rooms/\(room)/read", ["seq": 3]).json["read_seq"]?.int64Value == 3)
            // Backwards is a no-op: 200 with the marker where it was, and no event.
            let back = try phone.post("/v1/rooms/\(room)/read", ["seq": 1])
            #expect(back.status == 200)
            #expect(back.json["read_seq"]?.int64Value == 3)
            let same = try phone.post("/v1/rooms/\(room)/read", ["seq": 3])
            #expect(same.json["read_seq"]?.int64Value == 3)
            expectError(try phone.post("/v1/rooms/\(room)/read", ["seq": 6]), 400, "seq_out_of_range")
            expectError(try phone.post("/v1/rooms/\(room)/read", ["seq": -1]), 400, "seq_out_of_range")
            expectError(try phone.post("/v1/rooms/\(room)/read", ["seq": "3"]), 400, "invalid_request")
            expectError(try phone.post("/v1/rooms/\(room)/read", [:]), 400, "invalid_request")

            let reads = try phone.pullAll(from: cursor).events
            #expect(reads.compactMap { $0["read_seq"]?.int64Value } == [3])
            let conv = try phone.get("/v1/conversations").json["conversations"]?[0]
            #expect(conv?["unread"]?.int64Value == 2)
            #expect(try phone.get("/v1/unread").json["total"]?.int64Value == 2)

            // Sending moves the sender's own marker to their message: nothing unread.
            try phone.sendOK(room, "a1", "caught up")
            let mine = try phone.get("/v1/conversations").json["conversations"]?[0]
            #expect(mine?["unread"]?.int64Value == 0)
            #expect(mine?["read_seq"]?.int64Value == 6)
            #expect(try phone.get("/v1/unread").json["total"]?.int64Value == 0)
            // And bob, who had read all his own, now has exactly alice's one message unread.
            #expect(try bob.get("/v1/unread").json["total"]?.int64Value == 1)
        }
    }

    @Test func conversationPagesAreExactAndComplete() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            var rooms: [Int64] = []
            for i in 0..<5 {
                let friend = try server.createUser("friend\(i)", device: "phone")
                let room = try friend.directRoom(with: "alice")
                try friend.sendOK(room, "m", "hi from \(i)")
                rooms.append(room)
            }
            var seen: [Int64] = []
            var path = "/v1/conversations?limit=2&preview=0"
            var pages = 0
            while pages < 10 {
                let r = try alice.get(path)
                #expect(r.status == 200)
                let ids = r.json["conversations"]?.array.compactMap { $0["id"]?.int64Value } ?? []
                #expect(ids.count == (pages < 2 ? 2 : 1))
                seen += ids
                pages += 1
                guard let next = r.json["next_page"]?.stringValue else { break }
                path = "/v1/conversations?limit=2&preview=0&page=\(next)"
            }
            #expect(pages == 3)
            #expect(seen == rooms.reversed())
            expectError(try alice.get("/v1/conversations?page=bogus"), 400, "invalid_request")
        }
    }
}
