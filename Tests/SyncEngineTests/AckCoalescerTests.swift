@testable import SyncEngine
import Testing

/// Pulls' implicit acks, gathered between flushes: per device the furthest cursor (by
/// inbox position; at an equal one, the latest: it may carry further hot rooms), taken
/// all at once.
@Suite struct AckCoalescerTests {
    static func cursor(_ seq: Int64, hot: [RoomID: Int64] = [:]) -> Cursor { Cursor(user: UserID(1), inboxSeq: seq, hot: hot) }

    @Test func keepsTheFurthestCursorPerDevice() {
        let acks = AckCoalescer()
        acks.add(device: DeviceID(1), cursor: Self.cursor(5))
        acks.add(device: DeviceID(1), cursor: Self.cursor(3))   // an older pull finishing late
        acks.add(device: DeviceID(2), cursor: Self.cursor(1))
        acks.add(device: DeviceID(2), cursor: Self.cursor(1, hot: [RoomID(9): 4]))
        let taken = Dictionary(uniqueKeysWithValues: acks.take().map { ($0.0, $0.1) })
        #expect(taken == [DeviceID(1): Self.cursor(5), DeviceID(2): Self.cursor(1, hot: [RoomID(9): 4])])
    }

    @Test func takeEmptiesIt() {
        let acks = AckCoalescer()
        #expect(acks.take().isEmpty)
        acks.add(device: DeviceID(1), cursor: Self.cursor(5))
        #expect(acks.take().count == 1)
        #expect(acks.take().isEmpty)
        acks.add(device: DeviceID(1), cursor: Self.cursor(2))   // after a flush, any cursor is news
        #expect(acks.take().map(\.1) == [Self.cursor(2)])
    }
}
