import SyncEngine
import SQLiteStore

extension SQLiteReader: ReceiptsReads {
    public func messageSender(room: RoomID, seq: Int64) throws -> (id: UserID, name: String)? {
        try sqlite.queryOne("""
            SELECT m.sender_id, u.name FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.room_id = ? AND m.seq = ? AND m.kind = 'message'
            """, [.integer(room.rawValue), .integer(seq)], { (id: UserID($0.int64(0)), name: $0.text(1)) })
    }

    public func readCount(room: RoomID, seq: Int64, excluding: UserID) throws -> Int {
        try sqlite.queryOne("""
            SELECT count(*) FROM members WHERE room_id = ?1 AND read_seq >= ?2 AND joined_seq < ?2 AND user_id != ?3
            """, [.integer(room.rawValue), .integer(seq), .integer(excluding.rawValue)], { $0.int(0) }) ?? 0
    }

    public func readerNames(room: RoomID, seq: Int64, excluding: UserID) throws -> [String] {
        try sqlite.queryAll("""
            SELECT u.name FROM members m JOIN users u ON u.id = m.user_id
            WHERE m.room_id = ?1 AND m.read_seq >= ?2 AND m.joined_seq < ?2 AND m.user_id != ?3 ORDER BY u.name
            """, [.integer(room.rawValue), .integer(seq), .integer(excluding.rawValue)]) { $0.text(0) }
    }
}

extension SQLiteWriter: ReceiptsWrites {
    public func markReceiptsPending(room: RoomID, reader: UserID, from: Int64, to: Int64) throws -> Bool {
        // One statement for all senders in the range (a group reader passes dozens),
        // current members only: a sender who left gets no receipts for the room.
        // Every sender's row is inserted or updated, so the change count is non-zero
        // exactly when some other member sent in (from, to].
        try sqlite.run("""
            INSERT OR FAIL INTO receipt_marks (room_id, sender_id, emitted_at, pending)
            SELECT DISTINCT ?1, sender_id, 0, 1 FROM messages
            WHERE room_id = ?1 AND seq > ?2 AND seq <= ?3 AND sender_id != ?4 AND kind = 'message'
              AND sender_id IN (SELECT user_id FROM members WHERE room_id = ?1)
            ON CONFLICT (room_id, sender_id) DO UPDATE SET pending = 1
            """, [.integer(room.rawValue), .integer(from), .integer(to), .integer(reader.rawValue)]) > 0
    }

    public func dueReceiptMarks(emittedBy due: Int64, room: RoomID?) throws -> [(room: RoomID, sender: UserID)] {
        var filter = ""
        var values: [SQLValue] = [.integer(due)]
        if let room {
            filter = " AND room_id = ?"
            values.append(.integer(room.rawValue))
        }
        return try sqlite.queryAll("""
            SELECT room_id, sender_id FROM receipt_marks WHERE pending = 1 AND emitted_at <= ?\(filter) LIMIT 1000
            """, values) { (room: RoomID($0.int64(0)), sender: UserID($0.int64(1))) }
    }

    public func receiptMarkEmitted(room: RoomID, sender: UserID, at: Int64) throws {
        try sqlite.run("UPDATE receipt_marks SET pending = 0, emitted_at = ? WHERE room_id = ? AND sender_id = ?",
                       [.integer(at), .integer(room.rawValue), .integer(sender.rawValue)])
    }

    public func pendingReceiptMarkCount() throws -> Int {
        try sqlite.queryOne("SELECT count(*) FROM receipt_marks WHERE pending = 1", [], { $0.int(0) }) ?? 0
    }
}
