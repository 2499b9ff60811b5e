import JSON
import SQLiteStore

/// Write diffusion: appending events to users' inboxes. Each append takes the
/// user's next inbox seq (users.inbox_seq + 1, under the single writer, so it is
/// strictly increasing) and records the user for a wake-up after the commit.
enum Inbox {
    /// A member of a room with their inbox position (users.inbox_seq), as read by
    /// `members(_:room:)` for a fan-out.
    struct Recipient {
        let user: UserID
        let inboxSeq: Int64
    }

    /// The current members of `room` with their inbox positions, in one indexed read.
    static func members(_ db: any StoreReader, room: RoomID) throws -> [Recipient] {
        try db.queryAll("""
            SELECT m.user_id, u.inbox_seq FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?
            """, [.integer(room.rawValue)]) { Recipient(user: UserID($0.int64(0)), inboxSeq: $0.int64(1)) }
    }

    /// Up to this many recipients, a fan-out runs one keyed statement per row; above,
    /// two set-based statements for the whole room.
    static let perRowFanOutLimit = 8

    /// One event for every current member of `room` (or for `recipients`, which the
    /// caller read in this command with `members(_:room:)`).
    ///
    /// Small rooms (direct chats): one single-row INSERT and one single-row UPDATE by
    /// primary key per recipient. Large rooms: one UPDATE and one INSERT ... SELECT for
    /// all of them. Both avoid RETURNING (an ephemeral table per execution), and the
    /// set-based ones use OR FAIL so that SQLite needs no statement journal (a copy of
    /// every page they touch): a conflict cannot happen here (seqs come from the
    /// counter just incremented), and if one did, the command fails after writing and
    /// the Writer undoes it by replaying its batch with savepoints.
    static func appendToMembers(_ ctx: WriteContext, room: RoomID, kind: EventKind, roomSeq: Int64?,
                                payload: JSONValue?, recipients: [Recipient]? = nil) throws {
        let pos = try ctx.position()
        let targets = try recipients ?? members(ctx.db, room: room)
        let payloadValue = SQLValue(payload?.serializedString)
        let roomSeqValue = SQLValue(roomSeq)
        if targets.count > perRowFanOutLimit {
            try ctx.db.run("""
                UPDATE OR FAIL users SET inbox_seq = inbox_seq + 1 WHERE id IN (SELECT user_id FROM members WHERE room_id = ?1)
                """, [.integer(room.rawValue)])
            let inserted = try ctx.db.run("""
                INSERT OR FAIL INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                SELECT u.id, u.inbox_seq, ?2, ?1, ?3, ?4, ?5, ?6
                FROM members m JOIN users u ON u.id = m.user_id
                WHERE m.room_id = ?1
                """, [.integer(room.rawValue), .text(kind.rawValue), roomSeqValue, payloadValue,
                      .integer(ctx.now), .integer(pos)])
            // The member list read earlier in this command must be the one fanned out to
            // (wakes go to `targets`); anything else fails the command, which the writer
            // then undoes alone.
            guard inserted == targets.count else { throw SyncError.storageUnavailable }
            for r in targets { ctx.wake(r.user, at: r.inboxSeq + 1) }
        } else {
            for r in targets {
                let seq = r.inboxSeq + 1
                try ctx.db.run("""
                    INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.integer(r.user.rawValue), .integer(seq), .text(kind.rawValue), .integer(room.rawValue),
                          roomSeqValue, payloadValue, .integer(ctx.now), .integer(pos)])
                try ctx.db.run("UPDATE users SET inbox_seq = ?2 WHERE id = ?1", [.integer(r.user.rawValue), .integer(seq)])
                ctx.wake(r.user, at: seq)
            }
        }
        ctx.inboxRows += targets.count
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
