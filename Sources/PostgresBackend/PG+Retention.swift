import SyncEngine

extension PGWriter: RetentionWrites {
    /// The prune round's lock until COMMIT ("pigeonhole retention"); another node's
    /// round skips rather than waits.
    static let retentionLockKey: Int64 = 0x7069_6765_6f6e_7274

    public func claimPruneRound() throws -> Bool {
        var got = false
        try write("SELECT pg_try_advisory_xact_lock($1)", [.int(Self.retentionLockKey)]) { got = $0.bool(0) }
        return got
    }

    public func usersInIDOrder(after: UserID, limit: Int) throws -> [UserID] {
        try pg.queryAll("SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2", [.int(after.rawValue), .int(Int64(limit))]) {
            UserID($0.int64(0))
        }
    }

    public func inboxPruneBoundary(user: UserID, scan: Int, createdBefore cutoff: Int64) throws -> Int64? {
        try pg.queryOne("""
            SELECT max(seq) FROM (SELECT seq, created_at FROM inbox WHERE user_id = $1 ORDER BY seq LIMIT $2) o
            WHERE created_at < $3
            """, [.int(user.rawValue), .int(Int64(scan)), .int(cutoff)]) { $0.optionalInt64(0) } ?? nil
    }

    public func pruneInbox(user: UserID, through: Int64) throws -> Int {
        let deleted = try write("DELETE FROM inbox WHERE user_id = $1 AND seq <= $2", [.int(user.rawValue), .int(through)])
        try write("UPDATE users SET inbox_floor = greatest(inbox_floor, $1) WHERE id = $2", [.int(through), .int(user.rawValue)])
        // See SQLite+Retention.swift: a stay whose leave is pruned is owed to no valid cursor.
        try write("DELETE FROM hot_departures WHERE user_id = $1 AND left_inbox_seq > 0 AND left_inbox_seq <= $2",
                  [.int(user.rawValue), .int(through)])
        return deleted
    }

    public func oldestMessages(limit: Int) throws -> [MessageAge] {
        try pg.queryAll("SELECT id, room_id, seq, sent_at FROM messages ORDER BY id LIMIT $1", [.int(Int64(limit))]) {
            MessageAge(id: MessageID($0.int64(0)), room: RoomID($0.int64(1)), seq: $0.int64(2), sentAt: $0.int64(3))
        }
    }

    public func deleteMessages(through: MessageID) throws -> Int {
        try write("DELETE FROM messages WHERE id <= $1", [.int(through.rawValue)])
    }

    public func deletePushes(forMessagesThrough through: MessageID) throws {
        try write("DELETE FROM push_outbox WHERE message_id <= $1", [.int(through.rawValue)])
    }

    public func raiseHistoryFloor(room: RoomID, to seq: Int64) throws {
        // The pruned messages' reactions go with them (docs/message-changes.md), and the
        // past stays whose messages are all pruned (they can show no change's message).
        try write("""
            WITH f AS (UPDATE rooms SET history_floor = greatest(history_floor, $1) WHERE id = $2),
                 r AS (DELETE FROM reactions WHERE room_id = $2 AND seq <= $1),
                 s AS (DELETE FROM past_stays WHERE room_id = $2 AND left_seq <= $1)
            DELETE FROM reaction_marks WHERE room_id = $2 AND seq <= $1
            """, [.int(seq), .int(room.rawValue)])
    }

    public func deleteMessageEvents(room: RoomID, through: Int64) throws {
        try write("DELETE FROM inbox WHERE kind = 'message' AND room_id = $1 AND room_seq <= $2",
                  [.int(room.rawValue), .int(through)])
    }
}
