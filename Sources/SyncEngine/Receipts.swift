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
        // As every other route about one message: no message there that the caller can
        // see (deleted by history retention, or the seq of an edit, recall or reactions
        // row) is 404 `message_not_found`.
        guard let (senderID, sender) = try ctx.store.messageSender(room: room, seq: seq) else { throw SyncError.messageNotFound }
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
        let emitted = try markAndEmit(ctx.store, room: room, reader: reader, from: from, to: to,
                                      dueBy: ctx.now - ctx.config.receiptsWindowMillis, at: ctx.now) { try ctx.position() }
        applied(ctx, room: room, emitted)
    }

    /// The wake-ups and counters of `receipts` events a unit's store operation wrote
    /// (`readerMoved`, or a backend's one-call send or read marker).
    static func applied(_ ctx: WriteContext, room: RoomID, _ emitted: ReceiptsEmitted) {
        for e in emitted.events {
            ctx.inboxRows += 1
            ctx.wake(e.user, at: e.seq)
            ctx.wakeReceipts(e.user, room: room)
        }
        if emitted.marked && emitted.pending { ctx.receiptsPending.set() }
    }

    /// The data step of `readerMoved` on the store alone (the default composition of the
    /// one-call operations, `MessagesWrites.sendMessage` and
    /// `ConversationsWrites.moveReadMarker`): marks (room, sender) pending for the current
    /// members other than `reader` who sent in (from, to] and, if any was marked, emits the
    /// room's due marks. The caller holds the room's lock. `position` is asked once, only
    /// if an event is written.
    static func markAndEmit(_ store: any StoreWriter, room: RoomID, reader: UserID, from: Int64, to: Int64,
                            dueBy: Int64, at: Int64, position: () throws -> Int64) throws -> ReceiptsEmitted {
        // Current members only: a sender who left gets no receipts for the room.
        guard try store.markReceiptsPending(room: room, reader: reader, from: from, to: to) else { return .none }
        let events = try emit(store, try store.dueReceiptMarks(emittedBy: dueBy, room: room), at: at, position: position)
        return ReceiptsEmitted(marked: true, events: events.map(\.1), pending: try store.pendingReceiptMarkCount() > 0)
    }

    /// Emits the pending marks whose window has passed, room by room under each room's
    /// lock (one store operation: `ReceiptsWrites.flushReceipts`). Returns how many marks
    /// are still pending (inside their window).
    @discardableResult
    public static func flush(_ ctx: WriteContext) throws -> Int {
        let flushed = try ctx.store.flushReceipts(dueBy: ctx.now - ctx.config.receiptsWindowMillis, at: ctx.now)
        for e in flushed.events {
            ctx.inboxRows += 1
            ctx.wake(e.row.user, at: e.row.seq)
            ctx.wakeReceipts(e.row.user, room: e.room)
        }
        return flushed.pending
    }

    /// One `receipts` event per ready mark, in the mark's sender's inbox; the marks are
    /// emitted at `at`. Returns (room, row written) per mark.
    static func emit(_ store: any StoreWriter, _ ready: [(room: RoomID, sender: UserID)], at: Int64,
                     position: () throws -> Int64) throws -> [(RoomID, InboxAppend)] {
        var out: [(RoomID, InboxAppend)] = []
        for (r, sender) in ready {
            let entry = InboxEntry(kind: .receipts, room: r, roomSeq: nil, payload: nil, createdAt: at,
                                   position: try position())
            guard let seq = try store.appendToInbox(user: sender, entry) else {
                throw SyncError.userNotFound(String(sender.rawValue))
            }
            out.append((r, InboxAppend(user: sender, seq: seq)))
            try store.receiptMarkEmitted(room: r, sender: sender, at: at)
        }
        return out
    }
}
