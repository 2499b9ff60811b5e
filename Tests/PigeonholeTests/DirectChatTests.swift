import JSON
import Testing

/// A user with two devices (phone and laptop) and a friend: a direct room, messages
/// both ways, and each device receiving everything exactly once through its own cursor.
@Suite(.timeLimit(.minutes(3)))
struct DirectChatTests {
    @Test func directRoomIsOneRoomFromEitherSide() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")

            let created = try alice.post("/v1/direct/bob", raw: "")
            #expect(created.status == 201)
            let id = try #require(created.json["id"]?.int64Value)
            #expect(created.json["kind"]?.stringValue == "direct")
            #expect(created.json["peer"]?.stringValue == "bob")
            #expect(created.json["member_count"]?.int64Value == 2)
            #expect(created.json["last_seq"]?.int64Value == 0)

            let again = try alice.post("/v1/direct/bob", raw: "")
            #expect(again.status == 200)
            #expect(again.json["id"]?.int64Value == id)

            let fromBob = try bob.post("/v1/direct/alice", raw: "")
            #expect(fromBob.status == 200)
            #expect(fromBob.json["id"]?.int64Value == id)
            #expect(fromBob.json["peer"]?.stringValue == "alice")

            expectError(try alice.post("/v1/direct/alice", raw: ""), 400, "invalid_request")
        }
    }

    @Test func concurrentDirectCallsFromBothSidesMakeOneRoom() throws {
        try TestServer.with { server in
            var devices: [TestDevice] = []
            for name in ["alice", "bob"] { devices.append(try server.createUser(name, device: "phone")) }
            // Two extra devices each, so four callers race (two from each side).
            for name in ["alice", "bob"] { devices.append(try server.createDevice(name, "laptop")) }
            let callers = devices
            let results = Locked<[(status: Int, id: Int64?)]>([])
            onThreads(callers.count) { i in
                let other = callers[i].user == "alice" ? "bob" : "alice"
                let r = try? callers[i].post("/v1/direct/\(other)", raw: "")
                results.withLock { $0.append((r?.status ?? -1, r?.json["id"]?.int64Value)) }
            }
            let all = results.value
            #expect(all.filter { $0.status == 201 }.count == 1)
            #expect(all.filter { $0.status == 200 }.count == 3)
            #expect(Set(all.compactMap(\.id)).count == 1)
            let list = try devices[0].get("/v1/conversations").json["conversations"]?.array ?? []
            #expect(list.count == 1)
        }
    }

    @Test func bothDevicesReceiveEveryMessageOnceInOrder() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            // Each device bootstraps from its own first screen, before the room exists.
            let phoneStart = try phone.conversationsCursor()
            let laptopStart = try laptop.conversationsCursor()
            let bobStart = try bob.conversationsCursor()

            let room = try phone.directRoom(with: "bob")
            // Interleaved: who sends each message, from which device.
            let script: [(TestDevice, String)] = [
                (phone, "hi bob"), (bob, "hey alice"), (bob, "how are you?"), (laptop, "fine, typing on my laptop"),
                (phone, "and now my phone"), (bob, "nice"), (laptop, "bye"), (bob, "bye!"),
            ]
            var sent: [ReceivedMessage] = []
            var phoneCursor = phoneStart
            var phoneMessages: [ReceivedMessage] = []
            for (i, (device, text)) in script.enumerated() {
                let r = try device.send(room, "c\(i)", text)
                #expect(r.status == 201)
                #expect(r.json["duplicate"]?.boolValue == false)
                sent.append(try #require(ReceivedMessage(r.json)))
                #expect(isRFC3339Millis(r.json["sent_at"]?.stringValue), "sent_at \(r.text)")
                if i == 3 {
                    // The phone syncs mid-conversation; the laptop stays away until the end.
                    let page = try phone.pullAll(from: phoneCursor, limit: 2)
                    phoneMessages += ReceivedMessage.from(page.events)
                    phoneCursor = page.cursor
                    // Independent cursors: the phone's ack is the phone's alone; the
                    // laptop has neither acked nor presented a cursor yet.
                    #expect(try phone.ack(phoneCursor).status == 204)
                    expectError(try laptop.get("/v1/sync?timeout=0"), 400, "cursor_required")
                }
            }
            #expect(sent.map(\.seq) == Array(1...Int64(script.count)))
            #expect(sent.map(\.sender) == script.map { $0.0.user })

            let phoneRest = try phone.pullAll(from: phoneCursor, limit: 3)
            phoneMessages += ReceivedMessage.from(phoneRest.events)
            let laptopAll = try laptop.pullAll(from: laptopStart, limit: 3)
            let laptopMessages = ReceivedMessage.from(laptopAll.events)

            #expect(phoneMessages == sent)
            #expect(laptopMessages == sent)
            // The laptop also saw the room being created, before any message.
            #expect(laptopAll.events.first?["type"]?.stringValue == "member")
            #expect(laptopAll.events.first?["room_id"]?.int64Value == room)
            #expect(laptopAll.events.first?["action"]?.stringValue == "created")
            #expect(laptopAll.hasMore.last == false)

            // Bob, from his own stream, sees the same conversation.
            #expect(ReceivedMessage.from(try bob.pullAll(from: bobStart).events) == sent)

            // The phone resumes without a cursor from where it acked; the laptop's
            // position does not move it.
            #expect(try phone.ack(phoneRest.cursor).status == 204)
            let resumed = try phone.get("/v1/sync?timeout=0")
            #expect(resumed.status == 200)
            #expect(resumed.json["cursor"]?.stringValue == phoneRest.cursor)
            #expect(resumed.json["events"]?.array.isEmpty == true)
            // Nothing more for either device: same cursor back, no events.
            for (device, cursor) in [(phone, phoneRest.cursor), (laptop, laptopAll.cursor)] {
                let tail = try device.pull(cursor)
                #expect(tail.status == 200)
                #expect(tail.json["events"]?.array.isEmpty == true)
                #expect(tail.json["cursor"]?.stringValue == cursor)
                #expect(tail.json["has_more"]?.boolValue == false)
            }
        }
    }
}
