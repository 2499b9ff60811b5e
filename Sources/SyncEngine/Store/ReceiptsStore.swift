// Read receipts: counts from read markers, coalesced events (see Store.swift for the seam).

public protocol ReceiptsReads {
    /// The sender (id and name) of the message at `seq` in `room`, or nil if there is
    /// none (never sent, or pruned).
    func messageSender(room: RoomID, seq: Int64) throws -> (id: UserID, name: String)?

    /// How many members of `room` other than `excluding` have read up to `seq`
    /// (read_seq >= seq). Counted from the read markers (an index on them), never
    /// from one row per reader per message.
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
}
