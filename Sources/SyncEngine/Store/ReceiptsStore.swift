// Read receipts: counts from read markers, coalesced events (see Store.swift for the seam).

public protocol ReceiptsReads {
    /// The sender (id and name) of the message at `seq` in `room`, or nil if there is
    /// none (never sent, or pruned).
    func messageSender(room: RoomID, seq: Int64) throws -> (id: UserID, name: String)?

    /// How many members of `room` other than `excluding` have read up to `seq`
    /// (read_seq >= seq) and could see it (joined before it: a member who joined later
    /// starts with a marker at the join point, past messages they never saw). Counted
    /// from the read markers (an index on them), never from one row per reader per
    /// message.
    func readCount(room: RoomID, seq: Int64, excluding: UserID) throws -> Int

    /// The names of those members, in name order.
    func readerNames(room: RoomID, seq: Int64, excluding: UserID) throws -> [String]
}

public protocol ReceiptsWrites {
    /// Marks (room, sender) pending for every current member of `room` other than
    /// `reader` who sent a message with `from < seq <= to`, in one operation whatever
    /// the number of senders. True when at least one mark was set (some other member
    /// sent in the range). A mark is one row per (room, sender): setting it again keeps
    /// one.
    func markReceiptsPending(room: RoomID, reader: UserID, from: Int64, to: Int64) throws -> Bool

    /// Up to 1000 pending marks last emitted at or before `emittedBy` (all rooms, or
    /// only `room`). All rooms: candidates, to be read again per room under its lock
    /// (`Receipts.flush`); one room: the marks to emit, locked until the commit by a
    /// backend with row locks.
    func dueReceiptMarks(emittedBy: Int64, room: RoomID?) throws -> [(room: RoomID, sender: UserID)]

    /// The mark of (room, sender) was emitted at `at`: no longer pending.
    func receiptMarkEmitted(room: RoomID, sender: UserID, at: Int64) throws

    /// How many marks are pending (inside their window or not yet flushed).
    func pendingReceiptMarkCount() throws -> Int

    /// The periodic flush's data step in one operation (`Receipts.flush`): up to 1000 due
    /// marks (last emitted at or before `dueBy`), room by room in room id order, each
    /// under its room's lock (`lockRoom`) and read again under it, emitted as `receipts`
    /// events at `at` and the unit's commit position. The default implementation below
    /// composes the fine-grained operations.
    func flushReceipts(dueBy: Int64, at: Int64) throws -> ReceiptsFlushed
}

/// What a receipts flush wrote.
public struct ReceiptsFlushed: Sendable {
    /// One per `receipts` event: its room and the (sender, inbox seq) row.
    public let events: [(room: RoomID, row: InboxAppend)]
    /// Marks still pending (inside their window).
    public let pending: Int

    public init(events: [(room: RoomID, row: InboxAppend)], pending: Int) {
        self.events = events
        self.pending = pending
    }
}

extension ReceiptsWrites where Self: StoreWriter {
    public func flushReceipts(dueBy: Int64, at: Int64) throws -> ReceiptsFlushed {
        var position: Int64?
        let pos: () throws -> Int64 = {
            if let position { return position }
            let p = try self.commitPosition()
            position = p
            return p
        }
        var events: [(room: RoomID, row: InboxAppend)] = []
        for room in Set(try dueReceiptMarks(emittedBy: dueBy, room: nil).map(\.room)).sorted() {
            try lockRoom(room)
            for (r, row) in try Receipts.emit(self, try dueReceiptMarks(emittedBy: dueBy, room: room), at: at, position: pos) {
                events.append((room: r, row: row))
            }
        }
        return ReceiptsFlushed(events: events, pending: try pendingReceiptMarkCount())
    }
}
