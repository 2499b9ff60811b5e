import SyncEngine

extension PGReader: ReceiptsReads {
    public func messageSender(room: RoomID, seq: Int64) throws -> (id: UserID, name: String)? {
        try pg.queryOne("""
            SELECT m.sender_id, u.name FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.room_id = $1 AND m.seq = $2 AND m.kind = 'message'
            """, [.int(room.rawValue), .int(seq)]) { (id: UserID($0.int64(0)), name: $0.text(1)) }
    }

    public func readCount(room: RoomID, seq: Int64, excluding: UserID) throws -> Int {
        try pg.queryOne("SELECT count(*) FROM members WHERE room_id = $1 AND read_seq >= $2 AND joined_seq < $2 AND user_id <> $3",
                        [.int(room.rawValue), .int(seq), .int(excluding.rawValue)]) { $0.int(0) } ?? 0
    }

    public func readerNames(room: RoomID, seq: Int64, excluding: UserID) throws -> [String] {
        try pg.queryAll("""
            SELECT u.name FROM members m JOIN users u ON u.id = m.user_id
            WHERE m.room_id = $1 AND m.read_seq >= $2 AND m.joined_seq < $2 AND m.user_id <> $3 ORDER BY u.name COLLATE "C"
            """, [.int(room.rawValue), .int(seq), .int(excluding.rawValue)]) { $0.text(0) }
    }
}

extension PGWriter: ReceiptsWrites {
    public func markReceiptsPending(room: RoomID, reader: UserID, from: Int64, to: Int64) throws -> Bool {
        try write("""
            INSERT INTO receipt_marks (room_id, sender_id, emitted_at, pending)
            SELECT DISTINCT $1::bigint, sender_id, 0::bigint, true FROM messages
            WHERE room_id = $1 AND seq > $2 AND seq <= $3 AND sender_id <> $4 AND kind = 'message'
              AND sender_id IN (SELECT user_id FROM members WHERE room_id = $1)
            ORDER BY sender_id
            ON CONFLICT (room_id, sender_id) DO UPDATE SET pending = true
            """, [.int(room.rawValue), .int(from), .int(to), .int(reader.rawValue)]) > 0
    }

    public func dueReceiptMarks(emittedBy due: Int64, room: RoomID?) throws -> [(room: RoomID, sender: UserID)] {
        // One room: the caller holds the room's lock, so no other node's unit of this
        // room runs meanwhile; the marks are read as of now (another node's flush that
        // committed before leaves them no longer pending) and locked to the commit.
        // All rooms: candidates only, locked room by room by the caller.
        var out: [(room: RoomID, sender: UserID)] = []
        let map: (PGRow) -> Void = { out.append((room: RoomID($0.int64(0)), sender: UserID($0.int64(1)))) }
        if let room {
            try lock("""
                SELECT room_id, sender_id FROM receipt_marks WHERE pending AND emitted_at <= $1 AND room_id = $2
                ORDER BY sender_id LIMIT 1000 FOR NO KEY UPDATE
                """, [.int(due), .int(room.rawValue)], map)
        } else {
            try pg.query("""
                SELECT room_id, sender_id FROM receipt_marks WHERE pending AND emitted_at <= $1
                ORDER BY room_id, sender_id LIMIT 1000
                """, [.int(due)], map)
        }
        return out
    }

    public func receiptMarkEmitted(room: RoomID, sender: UserID, at: Int64) throws {
        try write("UPDATE receipt_marks SET pending = false, emitted_at = $1 WHERE room_id = $2 AND sender_id = $3",
                  [.int(at), .int(room.rawValue), .int(sender.rawValue)])
    }

    /// The whole flush in one round trip: `ph_flush_receipts`
    /// (migrations/postgres/0008_write_functions.sql), the default implementation's steps
    /// server-side, each room's lock first, rooms in id order.
    public func flushReceipts(dueBy: Int64, at: Int64) throws -> ReceiptsFlushed {
        try willWrite()
        var flushed = ReceiptsFlushed(events: [], pending: 0)
        try pg.query("SELECT * FROM ph_flush_receipts($1, $2)", [.int(dueBy), .int(at)]) { row in
            let rooms = row.int64Array(0), users = row.int64Array(1), seqs = row.int64Array(2)
            var events: [(room: RoomID, row: InboxAppend)] = []
            for i in 0..<min(rooms.count, users.count, seqs.count) {
                events.append((room: RoomID(rooms[i]), row: InboxAppend(user: UserID(users[i]), seq: seqs[i])))
            }
            flushed = ReceiptsFlushed(events: events, pending: row.int(3))
        }
        return flushed
    }

    public func pendingReceiptMarkCount() throws -> Int {
        try pg.queryOne("SELECT count(*) FROM receipt_marks WHERE pending", []) { $0.int(0) } ?? 0
    }
}
