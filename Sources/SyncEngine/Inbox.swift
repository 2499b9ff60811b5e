import JSON
import SQLiteStore

/// Write diffusion: appending events to users' inboxes. Each append takes the
/// user's next inbox seq (users.inbox_seq + 1, under the single writer, so it is
/// strictly increasing) and records the user for a wake-up after the commit.
enum Inbox {
    /// One event for every current member of `room` (two statements, however many members).
    static func appendToMembers(_ ctx: WriteContext, room: RoomID, kind: EventKind, roomSeq: Int64?,
                                payload: JSONValue?) throws {
        let pos = try ctx.position()
        try ctx.db.query("""
            UPDATE users SET inbox_seq = inbox_seq + 1
            WHERE id IN (SELECT user_id FROM members WHERE room_id = ?1)
            RETURNING id, inbox_seq
            """, [.integer(room.rawValue)]) { row in
            ctx.wake(UserID(row.int64(0)), at: row.int64(1))
        }
        ctx.inboxRows += try ctx.db.run("""
            INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
            SELECT u.id, u.inbox_seq, ?2, ?1, ?3, ?4, ?5, ?6
            FROM members m JOIN users u ON u.id = m.user_id
            WHERE m.room_id = ?1
            """, [.integer(room.rawValue), .text(kind.rawValue), SQLValue(roomSeq),
                  SQLValue(payload?.serializedString), .integer(ctx.now), .integer(pos)])
    }

    /// One event for one user (who may no longer be a member, e.g. after removal).
    static func append(_ ctx: WriteContext, user: UserID, kind: EventKind, room: RoomID?, roomSeq: Int64?,
                       payload: JSONValue?) throws {
        guard let seq = try ctx.db.queryOne("UPDATE users SET inbox_seq = inbox_seq + 1 WHERE id = ? RETURNING inbox_seq",
                                            [.integer(user.rawValue)], { $0.int64(0) }) else {
            throw SyncError.userNotFound(String(user.rawValue))
        }
        ctx.inboxRows += try ctx.db.run("""
            INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.integer(user.rawValue), .integer(seq), .text(kind.rawValue), SQLValue(room?.rawValue),
                  SQLValue(roomSeq), SQLValue(payload?.serializedString), .integer(ctx.now), .integer(try ctx.position())])
        ctx.wake(user, at: seq)
    }

    static func memberPayload(action: String, user: String, by: String?) -> JSONValue {
        var members: [(String, JSONValue)] = [("action", .string(action)), ("user", .string(user))]
        if let by { members.append(("by", .string(by))) }
        return .object(members)
    }
}
