import JSON
import SyncEngine
import Testing

/// Cursors are validated (400 `invalid_cursor`), a device without a cursor resumes
/// from its acked position (400 `cursor_required` if it never acked), and acks only
/// move forward.
@Suite(.timeLimit(.minutes(3)))
struct CursorAckTests {
    @Test func invalidCursorsAreRejected() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            try bob.sendOK(room, "m1", "hi")
            let aliceCursor = try alice.conversationsCursor()
            let bobCursor = try bob.conversationsCursor()
            let aliceID = try alice.userID()

            var garbage = ["garbage", "!!!", "djEuMS4x=", "AAAA", String(repeating: "A", count: 300)]
            // Well-formed base64url, but not our encoding (wrong version, bad numbers).
            for plain in ["v2.\(aliceID).1", "v1.\(aliceID)", "v1.\(aliceID).-1", "v1.0\(aliceID).1", "v1.x.1"] {
                garbage.append(Base64URL.encode(Array(plain.utf8)))
            }
            for c in garbage {
                expectError(try alice.pull(c), 400, "invalid_cursor")
                expectError(try alice.ack(c), 400, "invalid_cursor")
            }
            // Someone else's cursor, even a valid one.
            expectError(try alice.pull(bobCursor), 400, "invalid_cursor")
            expectError(try alice.ack(bobCursor), 400, "invalid_cursor")
            // Past the end of alice's stream.
            let pastEnd = Cursor(user: UserID(aliceID), inboxSeq: 1_000).encoded
            expectError(try alice.pull(pastEnd), 400, "invalid_cursor")
            expectError(try alice.ack(pastEnd), 400, "invalid_cursor")
            // The real one works, and so does the very start of the stream.
            #expect(try alice.pull(aliceCursor).status == 200)
            let fromZero = try alice.pull(Cursor(user: UserID(aliceID), inboxSeq: 0).encoded)
            #expect(fromZero.json["events"]?.array.count == 2)   // room created, bob's message
        }
    }

    @Test func pullWithoutCursorResumesFromTheAck() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            expectError(try alice.get("/v1/sync?timeout=0"), 400, "cursor_required")
            #expect(try alice.get("/v1/sync?timeout=0").json["error"]?["message"]?.stringValue?.contains("/v1/conversations") == true)

            let start = try alice.conversationsCursor()
            for i in 1...3 { try bob.sendOK(room, "a\(i)", "first \(i)") }
            let first = try alice.pullAll(from: start)
            #expect(ReceivedMessage.from(first.events).map(\.seq) == [1, 2, 3])
            #expect(try alice.ack(first.cursor).status == 204)
            for i in 4...5 { try bob.sendOK(room, "a\(i)", "later \(i)") }

            // Lost local state, kept the token: resume right after what was acked.
            let resumed = try alice.get("/v1/sync?timeout=0")
            #expect(resumed.status == 200)
            #expect(ReceivedMessage.from(resumed.json["events"]?.array ?? []).map(\.seq) == [4, 5])
            let end = try #require(resumed.json["cursor"]?.stringValue)

            // Acking an older cursor is a no-op: the position stays where it was.
            #expect(try alice.ack(end).status == 204)
            #expect(try alice.ack(start).status == 204)
            #expect(try alice.ack(first.cursor).status == 204)
            let afterOld = try alice.get("/v1/sync?timeout=0")
            #expect(afterOld.json["events"]?.array.isEmpty == true)
            #expect(afterOld.json["cursor"]?.stringValue == end)
        }
    }

    @Test func presentingACursorAcksIt() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let start = try alice.conversationsCursor()
            try bob.sendOK(room, "m1", "one")
            let page = try alice.pull(start)
            let next = try #require(page.json["cursor"]?.stringValue)
            try bob.sendOK(room, "m2", "two")
            // Presenting `next` says "I stored everything before it": it is acked off the
            // request's path, so a later cursor-less pull starts there (m2 only).
            #expect(try alice.pull(next).status == 200)
            let resumedAtNext = try eventually {
                let r = try alice.get("/v1/sync?timeout=0")
                return ReceivedMessage.from(r.json["events"]?.array ?? []).map(\.clientMsgID) == ["m2"]
            }
            #expect(resumedAtNext)
        }
    }
}
