import Foundation
import JSON
import Testing

/// Issue 13, item 11: a sender who left a room went on receiving `receipts` events for
/// it (a read right after the leave, or a mark still pending in its window). Receipts
/// are for current members only.
///
@Suite(.timeLimit(.minutes(3)))
struct ReceiptsAfterLeaveTests {
    @Test(arguments: [false, true])
    func aFormerMemberGetsNoReceiptsForTheRoomItLeft(hot: Bool) throws {
        let time = FakeClocks()   // the receipts window passes when the test says so
        try TestServer.with(configure: {
            $0.api.clocks = time.clocks
            $0.api.engine.receiptsWindowMillis = 100
            if hot { $0.api.engine.hotThreshold = 3 }
        }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let room = try alice.createGroup("group", members: ["bob", "carol"])
            try alice.sendOK(room, "m1", "one")
            try alice.sendOK(room, "m2", "two")
            let start = try alice.conversationsCursor()
            // While alice is a member: a read is a receipts event at once (the window
            // opens), and a second read inside the window is left pending.
            try bob.markRead(room, 1)
            let first = try HotRoomReceiptTests.awaitReceipts(alice, from: start, timeout: 2)
            #expect(HotRoomTests.keys(first.events).contains("receipts:\(room)"))
            try carol.markRead(room, 1)
            try bob.markRead(room, 2)

            #expect(try alice.delete("/v1/rooms/\(room)/members/alice").status == 204)
            try carol.markRead(room, 2)   // after the leave
            // Past the window, a read of bob's message flushes the room's due marks
            // itself (no timer involved): bob gets his receipts event, alice nothing.
            let bobStart = try bob.conversationsCursor()
            try bob.sendOK(room, "b1", "three")
            time.advance(milliseconds: 150)
            try carol.markRead(room, 3)
            let bobs = try HotRoomReceiptTests.awaitReceipts(bob, from: bobStart, timeout: 2)
            #expect(HotRoomTests.keys(bobs.events).contains("receipts:\(room)"), "the room's marks were not flushed")

            let after = try alice.pullAll(from: first.cursor).events
            let keys = HotRoomTests.keys(after)
            #expect(keys.contains("member:\(room):left:alice"), "\(keys)")
            let leave = keys.firstIndex(of: "member:\(room):left:alice") ?? keys.count
            #expect(!keys[leave...].contains("receipts:\(room)"), "receipts after leaving: \(keys)")
        }
    }
}
