import SyncEngine
import SQLiteStore

extension SQLiteReader: PushOutboxReads {
    public func nextPushAttempt() throws -> Int64? {
        try sqlite.queryOne("SELECT min(next_attempt_at) FROM push_outbox WHERE dead = 0", [], { $0.optionalInt64(0) }) ?? nil
    }

    public func deadPushes(limit: Int) throws -> [PushOutbox.DeadPush] {
        try sqlite.queryAll("""
            SELECT p.push_id, u.name, p.room_id, p.message_id, p.attempts, p.last_error, p.created_at
            FROM push_outbox p JOIN users u ON u.id = p.user_id WHERE p.dead = 1 ORDER BY p.id LIMIT ?
            """, [.integer(Int64(limit))]) {
            PushOutbox.DeadPush(pushID: $0.text(0), user: $0.text(1), roomID: RoomID($0.int64(2)),
                                messageID: MessageID($0.int64(3)), attempts: $0.int(4), lastError: $0.optionalText(5),
                                createdAt: $0.int64(6))
        }
    }

    public func deadPushCount() throws -> Int {
        try sqlite.queryOne("SELECT count(*) FROM push_outbox WHERE dead = 1", [], { $0.int(0) }) ?? 0
    }

    public func pushOutboxDepth() throws -> Int {
        try sqlite.queryOne("SELECT count(*) FROM push_outbox WHERE dead = 0", [], { $0.int(0) }) ?? 0
    }
}

extension SQLiteWriter: PushOutboxWrites {
    public func claimDuePushes(now: Int64, leaseUntil: Int64, limit: Int) throws -> [PushOutbox.Push] {
        // One dispatcher, one writer: nothing else claims concurrently.
        let pushes = try sqlite.queryAll("""
            SELECT p.id, p.push_id, u.name, p.attempts, \(MessageRows.columns(viewer: "p.user_id"))
            FROM push_outbox p
            JOIN users u ON u.id = p.user_id
            JOIN messages m ON m.id = p.message_id
            JOIN users su ON su.id = m.sender_id
            WHERE p.dead = 0 AND p.next_attempt_at <= ? ORDER BY p.next_attempt_at, p.id LIMIT ?
            """, [.integer(now), .integer(Int64(limit))]) {
            PushOutbox.Push(rowID: $0.int64(0), pushID: $0.text(1), user: $0.text(2), attempts: $0.int(3),
                            message: MessageRows.message($0, at: 4))
        }
        for p in pushes {
            try sqlite.run("UPDATE push_outbox SET next_attempt_at = ? WHERE id = ?", [.integer(leaseUntil), .integer(p.rowID)])
        }
        return pushes
    }

    public func pushCandidates(room: RoomID) throws -> [UserID] {
        try sqlite.queryAll("SELECT user_id FROM members WHERE room_id = ?", [.integer(room.rawValue)]) { UserID($0.int64(0)) }
    }

    public func enqueuePush(pushID: String, user: UserID, room: RoomID, message: MessageID, at: Int64) throws {
        try sqlite.run("""
            INSERT OR IGNORE INTO push_outbox (push_id, user_id, room_id, message_id, created_at, next_attempt_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """, [.text(pushID), .integer(user.rawValue), .integer(room.rawValue), .integer(message.rawValue),
                  .integer(at), .integer(at)])
    }

    public func pushDelivered(rowID: Int64) throws {
        try sqlite.run("DELETE FROM push_outbox WHERE id = ?", [.integer(rowID)])
    }

    public func pushAttempts(rowID: Int64) throws -> Int64? {
        try sqlite.queryOne("SELECT attempts FROM push_outbox WHERE id = ?", [.integer(rowID)], { $0.int64(0) })
    }

    public func pushFailed(rowID: Int64, attempts: Int64, retryAt: Int64?, error: String) throws {
        if let retryAt {
            try sqlite.run("UPDATE push_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                           [.integer(attempts), .integer(retryAt), .text(error), .integer(rowID)])
        } else {
            try sqlite.run("UPDATE push_outbox SET attempts = ?, dead = 1, last_error = ? WHERE id = ?",
                           [.integer(attempts), .text(error), .integer(rowID)])
        }
    }
}
