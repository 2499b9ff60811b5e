import JSON
import SQLiteStore

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
        let membership = try Rooms.requireMember(ctx.db, room: room, user: me)
        let r = try Rooms.load(ctx.db, room)
        guard seq > membership.joinedSeq, seq <= r.lastSeq else { throw SyncError.seqOutOfRange(lastSeq: r.lastSeq) }
        guard let (senderID, sender) = try ctx.db.queryOne("""
            SELECT m.sender_id, u.name FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.room_id = ? AND m.seq = ?
            """, [.integer(room.rawValue), .integer(seq)], { ($0.int64(0), $0.text(1)) }) else {
            throw SyncError.invalid(field: "seq", reason: "no message with this seq (it may have been pruned)")
        }
        let n = try ctx.db.queryOne("""
            SELECT count(*) FROM members WHERE room_id = ? AND read_seq >= ? AND user_id != ?
            """, [.integer(room.rawValue), .integer(seq), .integer(senderID)], { $0.int(0) }) ?? 0
        var readers: [String]? = nil
        if r.memberCount < 100 {
            readers = try ctx.db.queryAll("""
                SELECT u.name FROM members m JOIN users u ON u.id = m.user_id
                WHERE m.room_id = ? AND m.read_seq >= ? AND m.user_id != ? ORDER BY u.name
                """, [.integer(room.rawValue), .integer(seq), .integer(senderID)]) { $0.text(0) }
        }
        return Count(room: room, seq: seq, sender: sender, readCount: n, readers: readers)
    }

    /// After `reader` moved its marker in `room` from `from` to `to`: the senders of
    /// the messages in (from, to] have new read counts.
    static func readerMoved(_ ctx: WriteContext, room: RoomID, reader: UserID, from: Int64, to: Int64) throws {
        // One statement for all senders in the range (a group reader passes dozens),
        // current members only: a sender who left gets no receipts for the room.
        // Every sender's row is inserted or updated, so the change count is non-zero
        // exactly when some other member sent in (from, to].
        let marked = try ctx.db.run("""
            INSERT OR FAIL INTO receipt_marks (room_id, sender_id, emitted_at, pending)
            SELECT DISTINCT ?1, sender_id, 0, 1 FROM messages
            WHERE room_id = ?1 AND seq > ?2 AND seq <= ?3 AND sender_id != ?4
              AND sender_id IN (SELECT user_id FROM members WHERE room_id = ?1)
            ON CONFLICT (room_id, sender_id) DO UPDATE SET pending = 1
            """, [.integer(room.rawValue), .integer(from), .integer(to), .integer(reader.rawValue)])
        if marked > 0, try flush(ctx, room: room) > 0 { ctx.receiptsPending.set() }
    }

    /// Emits the pending marks whose window has passed (all rooms, or one). Returns how
    /// many marks are still pending (inside their window).
    @discardableResult
    public static func flush(_ ctx: WriteContext, room: RoomID? = nil) throws -> Int {
        let due = ctx.now - ctx.config.receiptsWindowMillis
        var filter = ""
        var values: [SQLValue] = [.integer(due)]
        if let room {
            filter = " AND room_id = ?"
            values.append(.integer(room.rawValue))
        }
        let ready = try ctx.db.queryAll("""
            SELECT room_id, sender_id FROM receipt_marks WHERE pending = 1 AND emitted_at <= ?\(filter) LIMIT 1000
            """, values) { (RoomID($0.int64(0)), UserID($0.int64(1))) }
        for (r, sender) in ready {
            try Inbox.append(ctx, user: sender, kind: .receipts, room: r, roomSeq: nil, payload: nil)
            ctx.wakeReceipts(sender, room: r)
            try ctx.db.run("UPDATE receipt_marks SET pending = 0, emitted_at = ? WHERE room_id = ? AND sender_id = ?",
                           [.integer(ctx.now), .integer(r.rawValue), .integer(sender.rawValue)])
        }
        return try ctx.db.queryOne("SELECT count(*) FROM receipt_marks WHERE pending = 1", [], { $0.int(0) }) ?? 0
    }
}
