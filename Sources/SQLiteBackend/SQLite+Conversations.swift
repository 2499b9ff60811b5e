import SyncEngine
import SQLiteStore

// The conversation list's, unread counters' and read markers' statements (see
// ConversationsStore.swift).
private enum SQL {
    static let select = """
        SELECT r.id, r.kind, r.name, r.last_seq, r.last_active_at, r.member_count, r.created_at, r.hot,
               m.read_seq, m.joined_seq, m.last_active_at, \(unread)
        FROM members m JOIN rooms r ON r.id = m.room_id
        """

    /// Unread counts messages, not seqs (docs/message-changes.md): the seqs above the read
    /// marker minus the change rows among them. The changes at or below the marker are the
    /// `change_no` of the newest change row at or below it, or, when those were pruned or
    /// never were, one less than the oldest change row's above it, or all of them; each a
    /// probe of the partial index `messages_changes`. A room without changes skips it.
    static let unread = """
        CASE WHEN r.change_count = 0 THEN max(0, r.last_seq - m.read_seq)
                    ELSE max(0, (r.last_seq - r.change_count) - (m.read_seq - coalesce(
                        (SELECT x.change_no FROM messages x WHERE x.room_id = m.room_id AND x.kind <> 'message'
                           AND x.seq <= m.read_seq ORDER BY x.seq DESC LIMIT 1),
                        (SELECT x.change_no - 1 FROM messages x WHERE x.room_id = m.room_id AND x.kind <> 'message'
                           AND x.seq > m.read_seq ORDER BY x.seq LIMIT 1),
                        r.change_count))) END
        """

    /// Maps `select`: the room's columns (as the Rooms statements list them), then the member's.
    static func toCandidate(_ r: Row) -> Conversations.Candidate {
        Conversations.Candidate(room: RoomRows.room(r), readSeq: r.int64(8), joinedSeq: r.int64(9), memberActiveAt: r.int64(10),
                                unread: r.int64(11))
    }
}

extension SQLiteReader: ConversationsReads {
    public func hotConversations(user: UserID) throws -> [Conversations.Candidate] {
        try sqlite.queryAll(SQL.select + " WHERE m.user_id = ?1 AND m.hot = 1", [.integer(user.rawValue)], SQL.toCandidate)
    }

    public func normalConversations(user: UserID, atOrAbove activity: Int64, room: RoomID) throws -> [Conversations.Candidate] {
        try sqlite.queryAll(SQL.select + """
             WHERE m.user_id = ?1 AND r.hot = 0
               AND (m.last_active_at > ?2 OR (m.last_active_at = ?2 AND m.room_id >= ?3))
            """, [.integer(user.rawValue), .integer(activity), .integer(room.rawValue)], SQL.toCandidate)
    }

    public func normalConversations(user: UserID, below activity: Int64, room: RoomID, limit: Int) throws -> [Conversations.Candidate] {
        try sqlite.queryAll(SQL.select + """
             WHERE m.user_id = ?1 AND r.hot = 0
               AND (m.last_active_at < ?2 OR (m.last_active_at = ?2 AND m.room_id < ?3))
             ORDER BY m.last_active_at DESC, m.room_id DESC LIMIT ?4
            """, [.integer(user.rawValue), .integer(activity), .integer(room.rawValue), .integer(Int64(limit))],
            SQL.toCandidate)
    }

    public func unreadRooms(user: UserID) throws -> [(room: RoomID, unread: Int64)] {
        try sqlite.queryAll("""
            SELECT * FROM (SELECT r.id, \(SQL.unread) AS unread,
                   (CASE WHEN r.hot = 1 THEN r.last_active_at ELSE m.last_active_at END) AS active
            FROM members m JOIN rooms r ON r.id = m.room_id
            WHERE m.user_id = ? AND r.last_seq > m.read_seq) u
            WHERE u.unread > 0 ORDER BY u.active DESC, u.id DESC
            """, [.integer(user.rawValue)]) { (room: RoomID($0.int64(0)), unread: $0.int64(1)) }
    }
}

extension SQLiteWriter: ConversationsWrites {
    public func advanceReadMarker(room: RoomID, user: UserID, to seq: Int64) throws -> Bool {
        // `read_seq < ?1`: the forward-only rule is part of the update itself (the
        // caller checked it too; with one writer both agree).
        try sqlite.run("UPDATE members SET read_seq = ?1 WHERE room_id = ?2 AND user_id = ?3 AND read_seq < ?1",
                       [.integer(seq), .integer(room.rawValue), .integer(user.rawValue)]) > 0
    }
}
