import JSON
@testable import SyncEngine
import Testing

/// Issue 13, item 10: a user in no room could learn which room ids are hot, and their
/// `last_seq` (by binary search over the "past the end" answers), from hand-made
/// cursors on `/v1/sync` and `/v1/sync/ack`. Membership is checked first now: every
/// cursor naming a room that is not one of the caller's hot rooms gets the same 400.
@Suite(.timeLimit(.minutes(3)))
struct CursorProbeTests {
    @Test func aHandMadeCursorRevealsNothingAboutRoomsTheCallerIsNotIn() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            let mallory = try server.createUser("mallory", device: "laptop")
            let hot = try alice.createGroup("hot", members: ["bob", "carol"])            // 3 members: hot
            let normal = try alice.createGroup("normal", members: ["bob"])              // 2 members: not hot
            for i in 0..<5 { try alice.sendOK(hot, "h\(i)", "secret \(i)") }
            let me = UserID(try mallory.userID())

            var answers: Set<String> = []
            // Hot room at, below and past its last_seq (5); a normal room; a room that does not exist.
            for (room, pos): (Int64, Int64) in [(hot, 0), (hot, 4), (hot, 5), (hot, 6), (hot, 1_000), (normal, 0), (9_999, 0)] {
                let cursor = Cursor(user: me, inboxSeq: 0, hot: [RoomID(room): pos]).encoded
                for r in [try mallory.pull(cursor), try mallory.ack(cursor)] {
                    expectError(r, 400, "invalid_cursor")
                    answers.insert(r.text)
                }
            }
            #expect(answers.count == 1, "different answers leak which rooms exist or are hot: \(answers)")

            // A member of the hot room still gets the precise answer for its own room.
            let aliceID = UserID(try alice.userID())
            let pastEnd = Cursor(user: aliceID, inboxSeq: 0, hot: [RoomID(hot): 6]).encoded
            expectError(try alice.pull(pastEnd), 400, "invalid_cursor")
            #expect(try alice.pull(pastEnd).text != answers.first)
            let atEnd = Cursor(user: aliceID, inboxSeq: 0, hot: [RoomID(hot): 5]).encoded
            #expect(try alice.pull(atEnd).status == 200)
        }
    }

    @Test func aFormerMemberCannotReadPastItsLeaveThroughACursor() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            _ = try server.createUser("carol", device: "phone")
            _ = try server.createUser("dave", device: "phone")
            let hot = try alice.createGroup("hot", members: ["bob", "carol", "dave"])
            try alice.sendOK(hot, "h1", "before bob leaves")
            let bobID = UserID(try bob.userID())
            #expect(try bob.delete("/v1/rooms/\(hot)/members/bob").status == 204)
            for i in 2...4 { try alice.sendOK(hot, "h\(i)", "after") }
            // The room is at seq 4 now; bob left at 1 (plus his leave): past that is past his end.
            let probe = Cursor(user: bobID, inboxSeq: 0, hot: [RoomID(hot): 4]).encoded
            expectError(try bob.pull(probe), 400, "invalid_cursor")
        }
    }
}
