import JSON
import Testing

/// One shape for a message everywhere it appears (send response, pull event, preview,
/// history), and the client's JSON body delivered exactly as sent.
@Suite(.timeLimit(.minutes(3)))
struct MessageShapeTests {
    @Test func sameMessageObjectInSendPullPreviewAndHistory() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let start = try bob.conversationsCursor()
            let body: JSONValue = [
                "text": "héllo 😀 \"quoted\" \\ back\nslash\t\u{1}",
                "n": .number("1.10"), "big": .number("12345678901234567890"), "neg": .number("-0.5e-3"),
                "nested": ["a": [1, 2, ["b": nil]], "t": true, "f": false], "empty": [:], "list": [],
            ]
            let sent = try alice.post("/v1/rooms/\(room)/messages", ["client_msg_id": "shape-1", "body": body])
            #expect(sent.status == 201)
            guard case .object(let fields) = sent.json else { Issue.record("not an object: \(sent.text)"); return }
            #expect(fields.map(\.0) == ["id", "room_id", "seq", "sender", "sender_device_id", "client_msg_id", "body",
                                        "sent_at", "duplicate"])
            #expect(sent.json["body"] == body)
            #expect(isRFC3339Millis(sent.json["sent_at"]?.stringValue))
            // The message itself: the send response without its `duplicate` flag.
            let message = JSONValue.object(fields.filter { $0.0 != "duplicate" })

            let events = try bob.pullAll(from: start).events
            let event = events.first { $0["type"]?.stringValue == "message" }
            #expect(event?["room_id"]?.int64Value == room)
            #expect(event?["message"] == message)
            let preview = try bob.get("/v1/conversations?preview=1").json["conversations"]?[0]?["preview"]?[0]
            #expect(preview == message)
            let history = try bob.get("/v1/rooms/\(room)/messages").json["messages"]?[0]
            #expect(history == message)
        }
    }
}
