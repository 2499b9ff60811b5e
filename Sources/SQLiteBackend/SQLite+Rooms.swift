import SyncEngine
import SQLiteStore

// Rooms and memberships on SQLite.

/// The columns of a room and their mapping, shared by the areas that return rooms.
enum RoomRows {
    static let columns = "id, kind, name, last_seq, last_active_at, member_count, created_at, hot"

    /// Maps `columns` (with any table prefix) starting at `offset`.
    static func room(_ row: Row, at offset: Int = 0) -> Room {
        Room(id: RoomID(row.int64(offset)), kind: RoomKind(rawValue: row.text(offset + 1)) ?? .group,
             name: row.optionalText(offset + 2), lastSeq: row.int64(offset + 3), lastActiveAt: row.int64(offset + 4),
             memberCount: row.int(offset + 5), createdAt: row.int64(offset + 6), hot: row.bool(offset + 7))
    }
}

extension SQLiteReader: RoomsReads {
    public func room(_ room: RoomID) throws -> Room? {
        try sqlite.queryOne("""
            SELECT id, kind, name, last_seq, last_active_at, member_count, created_at, hot FROM rooms WHERE id = ?
            """, [.integer(room.rawValue)], { RoomRows.room($0) })
    }

    public func roomExists(_ room: RoomID) throws -> Bool {
        try sqlite.queryOne("SELECT 1 FROM rooms WHERE id = ?", [.integer(room.rawValue)]) { _ in true } ?? false
    }

    public func directRoom(key: String) throws -> RoomID? {
        try sqlite.queryOne("SELECT id FROM rooms WHERE direct_key = ?", [.text(key)]) { RoomID($0.int64(0)) }
    }

    public func membership(room: RoomID, user: UserID) throws -> Rooms.Membership? {
        try sqlite.queryOne("SELECT joined_seq, read_seq, role FROM members WHERE room_id = ? AND user_id = ?",
                            [.integer(room.rawValue), .integer(user.rawValue)]) {
            Rooms.Membership(joinedSeq: $0.int64(0), readSeq: $0.int64(1), role: $0.text(2))
        }
    }

    public func isMember(room: RoomID, user: UserID) throws -> Bool {
        try sqlite.queryOne("SELECT 1 FROM members WHERE room_id = ? AND user_id = ?",
                            [.integer(room.rawValue), .integer(user.rawValue)]) { _ in true } ?? false
    }

    public func otherMemberName(room: RoomID, excluding user: UserID) throws -> String? {
        try sqlite.queryOne("""
            SELECT u.name FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ? AND m.user_id != ?
            """, [.integer(room.rawValue), .integer(user.rawValue)]) { $0.text(0) }
    }

    public func otherMemberNames(rooms: [RoomID], excluding user: UserID) throws -> [RoomID: String] {
        // One prepared statement per room (in-process: no round trips).
        var names: [RoomID: String] = [:]
        for room in rooms {
            if let name = try otherMemberName(room: room, excluding: user) { names[room] = name }
        }
        return names
    }

    public func roomCounts(userNames names: [String], room: RoomID?) throws -> [String: (rooms: Int, inRoom: Bool)] {
        // In process: one prepared statement per name (no round trips to save).
        var out: [String: (rooms: Int, inRoom: Bool)] = [:]
        for name in Set(names) {
            try sqlite.query("""
                SELECT (SELECT count(*) FROM members m WHERE m.user_id = u.id),
                       EXISTS (SELECT 1 FROM members m WHERE m.user_id = u.id AND m.room_id = ?2)
                FROM users u WHERE u.name = ?1
                """, [.text(name), room.map { .integer($0.rawValue) } ?? .null]) { out[name] = ($0.int(0), $0.int64(1) != 0) }
        }
        return out
    }

    public func members(of room: RoomID, after: String?, limit: Int) throws -> [Member] {
        try sqlite.queryAll("""
            SELECT m.user_id, u.name, m.role, m.joined_seq, m.read_seq
            FROM members m JOIN users u ON u.id = m.user_id
            WHERE m.room_id = ?1 AND (?2 IS NULL OR u.name > ?2) ORDER BY u.name LIMIT ?3
            """, [.integer(room.rawValue), after.map { .text($0) } ?? .null, .integer(Int64(limit))]) {
            Member(user: UserID($0.int64(0)), name: $0.text(1), role: $0.text(2), joinedSeq: $0.int64(3), readSeq: $0.int64(4))
        }
    }
}

extension SQLiteWriter: RoomsWrites {
    /// One writer: its transaction holds the whole database already.
    public func lockRoom(_ room: RoomID) throws {}

    public func insertDirectRoom(key: String, createdBy: UserID, at: Int64) throws -> RoomID? {
        do {
            try sqlite.run("""
                INSERT INTO rooms (kind, direct_key, last_active_at, member_count, created_by, created_at)
                VALUES ('direct', ?, ?, 0, ?, ?)
                """, [.text(key), .integer(at), .integer(createdBy.rawValue), .integer(at)])
        } catch let e where e.isConstraintUnique {
            // Cannot happen under the single writer (the caller looked first, in this
            // command); kept for the contract. A failed INSERT undoes only itself.
            return nil
        }
        return RoomID(sqlite.lastInsertRowID)
    }

    public func insertGroupRoom(name: String, createdBy: UserID, at: Int64) throws -> RoomID {
        try sqlite.run("""
            INSERT INTO rooms (kind, name, last_active_at, member_count, created_by, created_at)
            VALUES ('group', ?, ?, 0, ?, ?)
            """, [.text(name), .integer(at), .integer(createdBy.rawValue), .integer(at)])
        return RoomID(sqlite.lastInsertRowID)
    }

    public func insertMember(room: RoomID, user: UserID, role: String, joinedSeq: Int64, at: Int64) throws {
        try sqlite.run("""
            INSERT INTO members (room_id, user_id, joined_seq, read_seq, last_active_at, role, hot)
            VALUES (?1, ?2, ?3, ?3, ?4, ?5, (SELECT hot FROM rooms WHERE id = ?1))
            """, [.integer(room.rawValue), .integer(user.rawValue), .integer(joinedSeq), .integer(at), .text(role)])
        try sqlite.run("UPDATE rooms SET member_count = member_count + 1 WHERE id = ?", [.integer(room.rawValue)])
    }

    public func deleteMember(room: RoomID, user: UserID) throws -> Bool {
        try sqlite.run("DELETE FROM members WHERE room_id = ? AND user_id = ?", [.integer(room.rawValue), .integer(user.rawValue)])
        // The statement's own count: `run` counts the trigger's row in `past_stays` too.
        guard sqlite.changes == 1 else { return false }
        try sqlite.run("UPDATE rooms SET member_count = member_count - 1 WHERE id = ?", [.integer(room.rawValue)])
        return true
    }

    public func makeHotIfReached(room: RoomID, threshold: Int) throws -> Bool {
        let flipped = try sqlite.run("""
            UPDATE rooms SET hot = 1, hot_since_seq = last_seq
            WHERE id = ? AND hot = 0 AND member_count >= ?
            """, [.integer(room.rawValue), .integer(Int64(threshold))])
        // members.hot mirrors rooms.hot (migration 0006): once per room, for every member.
        if flipped > 0 { try sqlite.run("UPDATE members SET hot = 1 WHERE room_id = ?", [.integer(room.rawValue)]) }
        return flipped > 0
    }

    public func recordHotDeparture(user: UserID, room: RoomID, at: Int64) throws {
        try sqlite.run("""
            INSERT OR IGNORE INTO hot_departures (user_id, room_id, floor, left_seq, left_at, left_inbox_seq)
            SELECT m.user_id, m.room_id, max(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, ?3, u.inbox_seq
            FROM members m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id
            WHERE m.room_id = ?1 AND m.user_id = ?2
            """, [.integer(room.rawValue), .integer(user.rawValue), .integer(at)])
    }

    public func dropReceiptMarks(room: RoomID, sender: UserID) throws {
        try sqlite.run("DELETE FROM receipt_marks WHERE room_id = ? AND sender_id = ?",
                       [.integer(room.rawValue), .integer(sender.rawValue)])
    }

    public func touchMembers(room: RoomID, at: Int64) throws {
        // OR FAIL: no statement journal (see appendToMembers in SQLite+Inbox.swift); a
        // failure here fails the whole batch, as a failed COMMIT does.
        try sqlite.run("UPDATE OR FAIL members SET last_active_at = max(last_active_at, ?1) WHERE room_id = ?2",
                       [.integer(at), .integer(room.rawValue)])
    }
}
