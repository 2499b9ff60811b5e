import SQLiteStore

/// The offline push outbox (DESIGN.md, issue 6): a message for a member with no live
/// connection (no parked pull, no open socket) queues a push in the same transaction;
/// a dispatcher delivers batches to the webhook, retrying with backoff, and marks a
/// push dead after the maximum attempts.
public enum PushOutbox {
    public struct Push: Sendable {
        public let rowID: Int64
        public let pushID: String
        public let user: String
        public let attempts: Int
        public let message: Message
    }

    public struct DeadPush: Sendable {
        public let pushID: String
        public let user: String
        public let roomID: RoomID
        public let messageID: MessageID
        public let attempts: Int
        public let lastError: String?
        public let createdAt: Int64
    }

    /// Called by `Messages.send` inside the send's savepoint (normal rooms only: a hot
    /// room would turn every message into thousands of pushes; big rooms are muted).
    /// `members`: the room's current members, if the caller already read them.
    static func enqueue(_ ctx: WriteContext, room: RoomID, message: MessageID, sender: UserID, members: [UserID]? = nil) throws {
        guard ctx.config.pushEnabled, let isOnline = ctx.isOnline else { return }
        let members = try members ?? ctx.db.queryAll("SELECT user_id FROM members WHERE room_id = ?",
                                                     [.integer(room.rawValue)]) { UserID($0.int64(0)) }
        for user in members where user != sender && !isOnline(user) {
            try ctx.db.run("""
                INSERT OR IGNORE INTO push_outbox (push_id, user_id, room_id, message_id, created_at, next_attempt_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, [.text("m\(message.rawValue)-u\(user.rawValue)"), .integer(user.rawValue), .integer(room.rawValue),
                      .integer(message.rawValue), .integer(ctx.now), .integer(ctx.now)])
        }
    }

    /// Pushes due now, oldest first.
    public static func due(_ db: any StoreReader, now: Int64, limit: Int) throws -> [Push] {
        try db.queryAll("""
            SELECT p.id, p.push_id, u.name, p.attempts, \(Messages.columns)
            FROM push_outbox p
            JOIN users u ON u.id = p.user_id
            JOIN messages m ON m.id = p.message_id
            JOIN users su ON su.id = m.sender_id
            WHERE p.dead = 0 AND p.next_attempt_at <= ? ORDER BY p.next_attempt_at, p.id LIMIT ?
            """, [.integer(now), .integer(Int64(limit))]) {
            Push(rowID: $0.int64(0), pushID: $0.text(1), user: $0.text(2), attempts: $0.int(3),
                 message: Messages.rowToMessage($0, at: 4))
        }
    }

    /// The earliest pending attempt time, or nil when nothing is pending.
    public static func nextAttempt(_ db: any StoreReader) throws -> Int64? {
        try db.queryOne("SELECT min(next_attempt_at) FROM push_outbox WHERE dead = 0", [], { $0.optionalInt64(0) }) ?? nil
    }

    public static func delivered(_ ctx: WriteContext, rowIDs: [Int64]) throws {
        for id in rowIDs { try ctx.db.run("DELETE FROM push_outbox WHERE id = ?", [.integer(id)]) }
    }

    /// Records a failed attempt: exponential backoff with full jitter, dead after `maxAttempts`.
    public static func failed(_ ctx: WriteContext, rowIDs: [Int64], error: String, random: @Sendable (Int64) -> Int64) throws {
        for id in rowIDs {
            guard let attempts = try ctx.db.queryOne("SELECT attempts FROM push_outbox WHERE id = ?", [.integer(id)], { $0.int64(0) })
            else { continue }
            let n = attempts + 1
            if n >= Int64(ctx.config.pushMaxAttempts) {
                try ctx.db.run("UPDATE push_outbox SET attempts = ?, dead = 1, last_error = ? WHERE id = ?",
                               [.integer(n), .text(error), .integer(id)])
            } else {
                let cap = min(ctx.config.pushBackoffMaxMillis, ctx.config.pushBackoffBaseMillis << min(n - 1, 30))
                let delay = cap / 2 + random(cap / 2 + 1)   // "equal jitter": at least half the backoff
                try ctx.db.run("UPDATE push_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                               [.integer(n), .integer(ctx.now + delay), .text(error), .integer(id)])
            }
        }
    }

    public static func dead(_ db: any StoreReader, limit: Int) throws -> [DeadPush] {
        try db.queryAll("""
            SELECT p.push_id, u.name, p.room_id, p.message_id, p.attempts, p.last_error, p.created_at
            FROM push_outbox p JOIN users u ON u.id = p.user_id WHERE p.dead = 1 ORDER BY p.id LIMIT ?
            """, [.integer(Int64(limit))]) {
            DeadPush(pushID: $0.text(0), user: $0.text(1), roomID: RoomID($0.int64(2)), messageID: MessageID($0.int64(3)),
                     attempts: $0.int(4), lastError: $0.optionalText(5), createdAt: $0.int64(6))
        }
    }

    public static func deadCount(_ db: any StoreReader) throws -> Int {
        try db.queryOne("SELECT count(*) FROM push_outbox WHERE dead = 1", [], { $0.int(0) }) ?? 0
    }

    public static func depth(_ db: any StoreReader) throws -> Int {
        try db.queryOne("SELECT count(*) FROM push_outbox WHERE dead = 0", [], { $0.int(0) }) ?? 0
    }
}
