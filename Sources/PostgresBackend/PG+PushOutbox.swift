import SyncEngine

extension PGReader: PushOutboxReads {
    public func nextPushAttempt() throws -> Int64? {
        try pg.queryOne("SELECT min(next_attempt_at) FROM push_outbox WHERE NOT dead") { $0.optionalInt64(0) } ?? nil
    }

    public func deadPushes(limit: Int) throws -> [PushOutbox.DeadPush] {
        try pg.queryAll("""
            SELECT p.push_id, u.name, p.room_id, p.message_id, p.attempts, p.last_error, p.created_at
            FROM push_outbox p JOIN users u ON u.id = p.user_id WHERE p.dead ORDER BY p.id LIMIT $1
            """, [.int(Int64(limit))]) {
            PushOutbox.DeadPush(pushID: $0.text(0), user: $0.text(1), roomID: RoomID($0.int64(2)),
                                messageID: MessageID($0.int64(3)), attempts: $0.int(4), lastError: $0.optionalText(5),
                                createdAt: $0.int64(6))
        }
    }

    public func deadPushCount() throws -> Int {
        try pg.queryOne("SELECT count(*) FROM push_outbox WHERE dead") { $0.int(0) } ?? 0
    }

    public func pushOutboxDepth() throws -> Int {
        try pg.queryOne("SELECT count(*) FROM push_outbox WHERE NOT dead") { $0.int(0) } ?? 0
    }
}

extension PGWriter: PushOutboxWrites {
    public func claimDuePushes(now: Int64, leaseUntil: Int64, limit: Int) throws -> [PushOutbox.Push] {
        // SKIP LOCKED: rows another node's dispatcher is claiming are left to it; the
        // lease keeps them its own after its commit.
        var pushes: [PushOutbox.Push] = []
        try write("""
            WITH c AS (
                UPDATE push_outbox SET next_attempt_at = $3
                WHERE id IN (SELECT id FROM push_outbox WHERE NOT dead AND next_attempt_at <= $1
                             ORDER BY next_attempt_at, id LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED)
                RETURNING id, push_id, user_id, attempts, message_id, next_attempt_at)
            SELECT c.id, c.push_id, u.name, c.attempts, \(MessageRows.columns(viewer: "c.user_id"))
            FROM c JOIN users u ON u.id = c.user_id JOIN messages m ON m.id = c.message_id JOIN users su ON su.id = m.sender_id
            ORDER BY c.id
            """, [.int(now), .int(Int64(limit)), .int(leaseUntil)]) {
            pushes.append(PushOutbox.Push(rowID: $0.int64(0), pushID: $0.text(1), user: $0.text(2), attempts: $0.int(3),
                                          message: MessageRows.message($0, at: 4)))
        }
        return pushes
    }

    public func pushCandidates(room: RoomID) throws -> [UserID] {
        try pg.queryAll("SELECT user_id FROM members WHERE room_id = $1", [.int(room.rawValue)]) { UserID($0.int64(0)) }
    }

    public func enqueuePush(pushID: String, user: UserID, room: RoomID, message: MessageID, at: Int64) throws {
        try write("""
            INSERT INTO push_outbox (push_id, user_id, room_id, message_id, created_at, next_attempt_at)
            VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (push_id) DO NOTHING
            """, [.text(pushID), .int(user.rawValue), .int(room.rawValue), .int(message.rawValue), .int(at)])
    }

    public func pushDelivered(rowID: Int64) throws {
        try write("DELETE FROM push_outbox WHERE id = $1", [.int(rowID)])
    }

    public func pushAttempts(rowID: Int64) throws -> Int64? {
        var n: Int64?
        try write("SELECT attempts FROM push_outbox WHERE id = $1 FOR NO KEY UPDATE", [.int(rowID)]) { n = $0.int64(0) }
        return n
    }

    public func pushFailed(rowID: Int64, attempts: Int64, retryAt: Int64?, error: String) throws {
        if let retryAt {
            try write("UPDATE push_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4",
                      [.int(attempts), .int(retryAt), .text(error), .int(rowID)])
        } else {
            try write("UPDATE push_outbox SET attempts = $1, dead = true, last_error = $2 WHERE id = $3",
                      [.int(attempts), .text(error), .int(rowID)])
        }
    }
}
