import SyncEngine
import SQLiteStore

extension SQLiteWriter: RetentionWrites {
    public func claimPruneRound() throws -> Bool { true }   // one process, one writer

    public func usersInIDOrder(after: UserID, limit: Int) throws -> [UserID] {
        try sqlite.queryAll("SELECT id FROM users WHERE id > ? ORDER BY id LIMIT ?",
                            [.integer(after.rawValue), .integer(Int64(limit))]) { UserID($0.int64(0)) }
    }

    public func inboxPruneBoundary(user: UserID, scan: Int, createdBefore cutoff: Int64) throws -> Int64? {
        // The user's oldest rows are first in (user_id, seq) order; look at a bounded prefix.
        try sqlite.queryOne("""
            SELECT max(seq) FROM (SELECT seq, created_at FROM inbox WHERE user_id = ?1 ORDER BY seq LIMIT ?2)
            WHERE created_at < ?3
            """, [.integer(user.rawValue), .integer(Int64(scan)), .integer(cutoff)], { $0.optionalInt64(0) }) ?? nil
    }

    public func pruneInbox(user: UserID, through: Int64) throws -> Int {
        let deleted = try sqlite.run("DELETE FROM inbox WHERE user_id = ? AND seq <= ?", [.integer(user.rawValue), .integer(through)])
        try sqlite.run("UPDATE users SET inbox_floor = max(inbox_floor, ?) WHERE id = ?", [.integer(through), .integer(user.rawValue)])
        // A stay whose leave is pruned is owed to no cursor still valid (one behind the
        // leave is expired now): the departures table does not grow with every leave.
        try sqlite.run("DELETE FROM hot_departures WHERE user_id = ? AND left_inbox_seq > 0 AND left_inbox_seq <= ?",
                       [.integer(user.rawValue), .integer(through)])
        return deleted
    }

    public func oldestMessages(limit: Int) throws -> [MessageAge] {
        try sqlite.queryAll("SELECT id, room_id, seq, sent_at FROM messages ORDER BY id LIMIT ?", [.integer(Int64(limit))]) {
            MessageAge(id: MessageID($0.int64(0)), room: RoomID($0.int64(1)), seq: $0.int64(2), sentAt: $0.int64(3))
        }
    }

    public func deleteMessages(through: MessageID) throws -> Int {
        try sqlite.run("DELETE FROM messages WHERE id <= ?", [.integer(through.rawValue)])
    }

    public func deletePushes(forMessagesThrough through: MessageID) throws {
        try sqlite.run("DELETE FROM push_outbox WHERE message_id <= ?", [.integer(through.rawValue)])
    }

    public func raiseHistoryFloor(room: RoomID, to seq: Int64) throws {
        try sqlite.run("UPDATE rooms SET history_floor = max(history_floor, ?) WHERE id = ?", [.integer(seq), .integer(room.rawValue)])
        // The pruned messages' reactions go with them (docs/message-changes.md).
        try sqlite.run("DELETE FROM reactions WHERE room_id = ? AND seq <= ?", [.integer(room.rawValue), .integer(seq)])
        try sqlite.run("DELETE FROM reaction_marks WHERE room_id = ? AND seq <= ?", [.integer(room.rawValue), .integer(seq)])
        // A stay whose messages are all pruned can show no change's message any more.
        try sqlite.run("DELETE FROM past_stays WHERE room_id = ? AND left_seq <= ?", [.integer(room.rawValue), .integer(seq)])
    }

    public func deleteMessageEvents(room: RoomID, through: Int64) throws {
        try sqlite.run("DELETE FROM inbox WHERE kind = 'message' AND room_id = ? AND room_seq <= ?",
                       [.integer(room.rawValue), .integer(through)])
    }
}
