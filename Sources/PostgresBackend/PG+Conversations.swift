import SyncEngine

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
        CASE WHEN r.change_count = 0 THEN greatest(0, r.last_seq - m.read_seq)
                    ELSE greatest(0, (r.last_seq - r.change_count) - (m.read_seq - coalesce(
                        (SELECT x.change_no FROM messages x WHERE x.room_id = m.room_id AND x.kind <> 'message'
                           AND x.seq <= m.read_seq ORDER BY x.seq DESC LIMIT 1),
                        (SELECT x.change_no - 1 FROM messages x WHERE x.room_id = m.room_id AND x.kind <> 'message'
                           AND x.seq > m.read_seq ORDER BY x.seq LIMIT 1),
                        r.change_count))) END
        """

    static func toCandidate(_ r: PGRow) -> Conversations.Candidate {
        Conversations.Candidate(room: RoomRows.room(r), readSeq: r.int64(8), joinedSeq: r.int64(9), memberActiveAt: r.int64(10),
                                unread: r.int64(11))
    }
}

extension PGReader: ConversationsReads {
    public func hotConversations(user: UserID) throws -> [Conversations.Candidate] {
        try pg.queryAll(SQL.select + " WHERE m.user_id = $1 AND m.hot", [.int(user.rawValue)], SQL.toCandidate)
    }

    public func normalConversations(user: UserID, atOrAbove activity: Int64, room: RoomID) throws -> [Conversations.Candidate] {
        try pg.queryAll(SQL.select + """
             WHERE m.user_id = $1 AND NOT r.hot
               AND (m.last_active_at > $2 OR (m.last_active_at = $2 AND m.room_id >= $3))
            """, [.int(user.rawValue), .int(activity), .int(room.rawValue)], SQL.toCandidate)
    }

    public func normalConversations(user: UserID, below activity: Int64, room: RoomID, limit: Int) throws -> [Conversations.Candidate] {
        try pg.queryAll(SQL.select + """
             WHERE m.user_id = $1 AND NOT r.hot
               AND (m.last_active_at < $2 OR (m.last_active_at = $2 AND m.room_id < $3))
             ORDER BY m.last_active_at DESC, m.room_id DESC LIMIT $4
            """, [.int(user.rawValue), .int(activity), .int(room.rawValue), .int(Int64(limit))], SQL.toCandidate)
    }

    public func unreadRooms(user: UserID) throws -> [(room: RoomID, unread: Int64)] {
        try pg.queryAll("""
            SELECT * FROM (SELECT r.id, \(SQL.unread) AS unread,
                   (CASE WHEN r.hot THEN r.last_active_at ELSE m.last_active_at END) AS active
            FROM members m JOIN rooms r ON r.id = m.room_id
            WHERE m.user_id = $1 AND r.last_seq > m.read_seq) u
            WHERE u.unread > 0 ORDER BY u.active DESC, u.id DESC
            """, [.int(user.rawValue)]) { (room: RoomID($0.int64(0)), unread: $0.int64(1)) }
    }
}

extension PGWriter: ConversationsWrites {
    public func advanceReadMarker(room: RoomID, user: UserID, to seq: Int64) throws -> Bool {
        // Forward only, re-checked on the locked row: with two nodes moving one marker,
        // the later (higher) one wins whatever the commit order.
        try write("UPDATE members SET read_seq = $1 WHERE room_id = $2 AND user_id = $3 AND read_seq < $1",
                  [.int(seq), .int(room.rawValue), .int(user.rawValue)]) > 0
    }

    /// The whole read-marker move in one round trip: `ph_mark_read`
    /// (migrations/postgres/0008_write_functions.sql), the default implementation's steps
    /// server-side, room lock first. It changes rows only when the marker moved.
    public func moveReadMarker(_ r: ReadMarkerRequest) throws -> ReadMarkerOutcome {
        try willLock()
        var outcome: ReadMarkerOutcome?
        try pg.query("SELECT * FROM ph_mark_read($1, $2, $3, $4, $5, $6)",
                     [.int(r.room.rawValue), .int(r.user.rawValue), .int(r.seq), .int(r.at), .int(r.receiptsDueBy),
                      .text(r.payload.serializedString)]) { row in
            switch row.text(0) {
            case "no_room": outcome = .roomNotFound
            case "not_member": outcome = .notMember
            case "out_of_range": outcome = .outOfRange(lastSeq: row.int64(1))
            case "unchanged": outcome = .unchanged(readSeq: row.int64(2))
            case "raced": outcome = .raced
            case "moved":
                let users = row.int64Array(3), seqs = row.int64Array(4)
                let receipts = users.isEmpty && !row.bool(5) ? ReceiptsEmitted.none : ReceiptsEmitted(
                    marked: true, events: zip(users, seqs).map { InboxAppend(user: UserID($0), seq: $1) },
                    pending: row.bool(5))
                outcome = .moved(from: row.int64(2), receipts: receipts,
                                 readEvent: InboxAppend(user: r.user, seq: row.int64(6)))
            default: break
            }
        }
        guard let outcome else { throw SyncError.unexpected("a server-side function answered no known status") }
        if case .moved = outcome { didWrite() }
        return outcome
    }
}
