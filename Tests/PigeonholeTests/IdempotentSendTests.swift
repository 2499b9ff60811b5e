import JSON
import Testing

/// A resend after a lost response (same `client_msg_id`) returns the original message
/// and creates nothing; the same key for a different message is a conflict.
@Suite(.timeLimit(.minutes(3)))
struct IdempotentSendTests {
    @Test func resendReturnsTheOriginalFromAnyOfTheSendersDevices() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let room = try phone.directRoom(with: "bob")
            let bobStart = try bob.conversationsCursor()

            let first = try phone.send(room, "msg-1", "hello")
            #expect(first.status == 201)
            #expect(first.json["duplicate"]?.boolValue == false)
            #expect(first.json["seq"]?.int64Value == 1)
            #expect(first.json["sender"]?.stringValue == "alice")
            #expect(first.json["sender_device_id"]?.int64Value == phone.id)
            let id = try #require(first.json["id"]?.int64Value)
            let sentAt = try #require(first.json["sent_at"]?.stringValue)

            // The response was "lost": the phone sends again, byte for byte.
            let again = try phone.send(room, "msg-1", "hello")
            #expect(again.status == 200)
            #expect(again.json["duplicate"]?.boolValue == true)
            #expect(again.json["id"]?.int64Value == id)
            #expect(again.json["seq"]?.int64Value == 1)
            #expect(again.json["sent_at"]?.stringValue == sentAt)

            // The same message from the laptop (an outbox synced across devices) is the
            // same message: still the phone's original.
            let fromLaptop = try laptop.send(room, "msg-1", "hello")
            #expect(fromLaptop.status == 200)
            #expect(fromLaptop.json["duplicate"]?.boolValue == true)
            #expect(fromLaptop.json["id"]?.int64Value == id)
            #expect(fromLaptop.json["sender_device_id"]?.int64Value == phone.id)

            // Equal JSON with other whitespace is the same body.
            let spaced = try phone.post("/v1/rooms/\(room)/messages",
                                        raw: #"{ "client_msg_id" : "msg-1", "body" : { "text" : "hello" } }"#)
            #expect(spaced.status == 200)
            #expect(spaced.json["id"]?.int64Value == id)

            // The same key for another message is refused, not silently deduplicated.
            expectError(try phone.send(room, "msg-1", "something else"), 409, "idempotency_conflict")
            expectError(try laptop.send(room, "msg-1", "something else"), 409, "idempotency_conflict")
            let otherRoom = try phone.createGroup("elsewhere", members: ["bob"])
            expectError(try phone.send(otherRoom, "msg-1", "hello"), 409, "idempotency_conflict")

            // Keys are per sender: bob may use the same one.
            let bobs = try bob.send(room, "msg-1", "hello")
            #expect(bobs.status == 201)
            #expect(bobs.json["seq"]?.int64Value == 2)

            // Exactly two messages exist, in the room and in each stream.
            let roomNow = try phone.get("/v1/rooms/\(room)")
            #expect(roomNow.json["last_seq"]?.int64Value == 2)
            let stream = ReceivedMessage.from(try bob.pullAll(from: bobStart).events)
            #expect(stream.map(\.seq) == [1, 2])
            #expect(stream.map(\.sender) == ["alice", "bob"])
            let history = try phone.fullHistory(room, limit: 100).messages
            #expect(history.compactMap { $0["id"]?.int64Value }.first == id)
            #expect(history.count == 2)
        }
    }

    @Test func racingRetriesFromTwoDevicesMakeOneMessage() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            _ = try server.createUser("bob", device: "phone")
            let room = try phone.directRoom(with: "bob")
            let devices = [phone, laptop, phone, laptop]
            // Each device retries on its own connection at the same moment.
            let clients = try devices.map { _ in try server.connect() }
            let results = Locked<[(status: Int, id: Int64?, duplicate: Bool?)]>([])
            onThreads(devices.count) { i in
                let r = try? clients[i].post("/v1/rooms/\(room)/messages",
                                             json: ["client_msg_id": "race-1", "body": ["text": "once"]], token: devices[i].token)
                results.withLock { $0.append((r?.status ?? -1, r?.json["id"]?.int64Value, r?.json["duplicate"]?.boolValue)) }
            }
            let all = results.value
            #expect(all.map(\.status).sorted() == [200, 200, 200, 201])
            #expect(all.filter { $0.duplicate == true }.count == 3)
            #expect(Set(all.compactMap(\.id)).count == 1)
            #expect(try phone.get("/v1/rooms/\(room)").json["last_seq"]?.int64Value == 1)
        }
    }
}
