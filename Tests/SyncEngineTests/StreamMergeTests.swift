@testable import SyncEngine
import Testing

/// Two pieces of a pull that need no store: merging the streams (the inbox, each hot
/// room) by commit position without ever reordering inside one, and the rule that acks
/// only move forward.
@Suite struct StreamMergeTests {
    static func item(_ stream: Int64?, pos: Int64, seq: Int64, _ kind: EventKind = .message) -> Stream.Item {
        Stream.Item(pos: pos, seq: seq, hotRoom: stream.map(RoomID.init), kind: kind, room: nil, roomSeq: nil, payload: nil)
    }

    static func keys(_ items: [Stream.Item]) -> [String] {
        items.map { "\($0.hotRoom.map { "r\($0)" } ?? "inbox")#\($0.seq)" }
    }

    @Test func interleavedByPosition() {
        let merged = Stream.mergeByPosition([
            Self.item(nil, pos: 10, seq: 1), Self.item(nil, pos: 30, seq: 2),
            Self.item(5, pos: 20, seq: 7), Self.item(5, pos: 40, seq: 8),
            Self.item(6, pos: 5, seq: 1),
        ])
        #expect(Self.keys(merged) == ["r6#1", "inbox#1", "r5#7", "inbox#2", "r5#8"])
    }

    /// With several writers a stream's positions need not grow with its seqs: the merge
    /// still takes each stream in seq order (a page skipping back in one stream would
    /// skip or repeat an event).
    @Test func neverReordersWithinAStream() {
        let merged = Stream.mergeByPosition([
            Self.item(nil, pos: 50, seq: 1), Self.item(nil, pos: 20, seq: 2),
            Self.item(5, pos: 30, seq: 1), Self.item(5, pos: 10, seq: 2),
        ])
        #expect(Self.keys(merged) == ["r5#1", "r5#2", "inbox#1", "inbox#2"])
        let one = [Self.item(nil, pos: 9, seq: 1), Self.item(nil, pos: 3, seq: 2)]
        #expect(Self.keys(Stream.mergeByPosition(one)) == ["inbox#1", "inbox#2"])
    }

    /// At one position (a unit's message and the events it caused) the message comes first.
    @Test func aMessageBeforeTheEventsOfItsCommit() {
        let merged = Stream.mergeByPosition([Self.item(nil, pos: 10, seq: 4, .receipts), Self.item(5, pos: 10, seq: 2)])
        #expect(Self.keys(merged) == ["r5#2", "inbox#4"])
    }

    @Test(arguments: [
        (Int64(5), Cursor?.none, Cursor(user: UserID(1), inboxSeq: 0), true),   // nothing acked yet
        (5, Cursor(user: UserID(1), inboxSeq: 5), Cursor(user: UserID(1), inboxSeq: 6), true),
        (5, Cursor(user: UserID(1), inboxSeq: 5), Cursor(user: UserID(1), inboxSeq: 4), false),
        (5, Cursor(user: UserID(1), inboxSeq: 5), Cursor(user: UserID(1), inboxSeq: 5), false),
        // At an equal inbox position: further hot rooms, and none behind, move it.
        (5, Cursor(user: UserID(1), inboxSeq: 5, hot: [RoomID(3): 2]), Cursor(user: UserID(1), inboxSeq: 5, hot: [RoomID(3): 3]), true),
        (5, Cursor(user: UserID(1), inboxSeq: 5, hot: [RoomID(3): 2]), Cursor(user: UserID(1), inboxSeq: 5, hot: [RoomID(3): 2, RoomID(4): 0]), true),
        (5, Cursor(user: UserID(1), inboxSeq: 5, hot: [RoomID(3): 2, RoomID(4): 9]),
         Cursor(user: UserID(1), inboxSeq: 5, hot: [RoomID(3): 3, RoomID(4): 1]), false),
        // A later inbox position moves it whatever the rooms say.
        (5, Cursor(user: UserID(1), inboxSeq: 5, hot: [RoomID(3): 9]), Cursor(user: UserID(1), inboxSeq: 6, hot: [RoomID(3): 1]), true),
    ] as [(Int64, Cursor?, Cursor, Bool)])
    func acksOnlyMoveForward(_ ackedSeq: Int64, _ acked: Cursor?, _ cursor: Cursor, _ moves: Bool) {
        #expect(Stream.ackMoves(from: ackedSeq, acked?.encoded, to: cursor) == moves)
    }
}
