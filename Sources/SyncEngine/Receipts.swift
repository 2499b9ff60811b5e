/// Read receipts, computed from read markers (never one row per reader per message):
/// the read count of a message is the number of members other than its sender whose
/// read_seq has reached its seq (index members_by_read).
///
/// Senders learn that counts changed through a `receipts` event in their stream, at
/// most once per room per `receiptsWindowMillis` however many people read: a read
/// marks (room, sender) pending in receipt_marks; the mark is emitted at once if the
/// window has passed, otherwise by the periodic `flush`.
public enum Receipts {
    public struct Count: Sendable {
        public let room: RoomID
        public let seq: Int64
        public let sender: String
        public let readCount: Int
        /// Names of the readers, for rooms under 100 members (nil above).
        public let readers: [String]?
    }

    public static func count(_ ctx: ReadContext, me: UserID, room: RoomID, seq: Int64) throws -> Count {
        let membership = try Rooms.requireMember(ctx.store, room: room, user: me)
        let r = try Rooms.load(ctx.store, room)
        guard seq > membership.joinedSeq, seq <= r.lastSeq else { throw SyncError.seqOutOfRange(lastSeq: r.lastSeq) }
        guard let (senderID, sender) = try ctx.store.messageSender(room: room, seq: seq) else {
            throw SyncError.invalid(field: "seq", reason: "no message with this seq (it may have been pruned)")
        }
        let n = try ctx.store.readCount(room: room, seq: seq, excluding: senderID)
        var readers: [String]? = nil
        if r.memberCount < 100 {
            readers = try ctx.store.readerNames(room: room, seq: seq, excluding: senderID)
        }
        return Count(room: room, seq: seq, sender: sender, readCount: n, readers: readers)
    }

    /// After `reader` moved its marker in `room` from `from` to `to`: the senders of
    /// the messages in (from, to] have new read counts.
    static func readerMoved(_ ctx: WriteContext, room: RoomID, reader: UserID, from: Int64, to: Int64) throws {
        // Current members only: a sender who left gets no receipts for the room.
        let marked = try ctx.store.markReceiptsPending(room: room, reader: reader, from: from, to: to)
        if marked, try flush(ctx, room: room) > 0 { ctx.receiptsPending.set() }
    }

    /// Emits the pending marks whose window has passed (all rooms, or one). Returns how
    /// many marks are still pending (inside their window).
    @discardableResult
    public static func flush(_ ctx: WriteContext, room: RoomID? = nil) throws -> Int {
        let due = ctx.now - ctx.config.receiptsWindowMillis
        if let room {
            // The caller (a read or a send in `room`) holds the room's lock already.
            try emit(ctx, try ctx.store.dueReceiptMarks(emittedBy: due, room: room))
        } else {
            // Room by room, each under its lock (the order every unit of a room keeps);
            // the marks are read again under it, so another node's flush of the same
            // room leaves nothing to emit twice.
            for r in Set(try ctx.store.dueReceiptMarks(emittedBy: due, room: nil).map(\.room)).sorted() {
                try ctx.store.lockRoom(r)
                try emit(ctx, try ctx.store.dueReceiptMarks(emittedBy: due, room: r))
            }
        }
        return try ctx.store.pendingReceiptMarkCount()
    }

    private static func emit(_ ctx: WriteContext, _ ready: [(room: RoomID, sender: UserID)]) throws {
        for (r, sender) in ready {
            try Inbox.append(ctx, user: sender, kind: .receipts, room: r, roomSeq: nil, payload: nil)
            ctx.wakeReceipts(sender, room: r)
            try ctx.store.receiptMarkEmitted(room: r, sender: sender, at: ctx.now)
        }
    }
}
