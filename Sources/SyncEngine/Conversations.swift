import JSON
import SQLiteStore

/// The first screen (conversation list with unread counters and previews), read
/// markers and unread totals.
public enum Conversations {
    /// Keyset page token: the (activity, room) of the last row of the previous page.
    struct PageToken {
        let lastActiveAt: Int64
        let room: RoomID
        var encoded: String { Base64URL.encode(Array("p1.\(lastActiveAt).\(room.rawValue)".utf8)) }
        static func decode(_ s: String) -> PageToken? {
            guard s.utf8.count <= 128, let b = Base64URL.decode(s), let t = String(validating: b, as: UTF8.self) else { return nil }
            let p = t.split(separator: ".", omittingEmptySubsequences: false)
            guard p.count == 3, p[0] == "p1", let a = Int64(p[1]), let r = Int64(p[2]) else { return nil }
            return PageToken(lastActiveAt: a, room: RoomID(r))
        }
    }

    /// Rooms by last activity, newest first, exactly `limit` per page (fewer only on the
    /// last page), each with unread, read_seq, last_seq and the newest `preview`
    /// messages; plus the stream cursor read in the same transaction, so a pull from it
    /// misses nothing and repeats nothing.
    public static func list(_ ctx: ReadContext, me: UserID, limit: Int, preview: Int, page: String?) throws -> ConversationPage {
        var token: PageToken? = nil
        if let page {
            guard let t = PageToken.decode(page) else { throw SyncError.invalid(field: "page", reason: "not a page token") }
            token = t
        }
        let after = token ?? PageToken(lastActiveAt: Int64.max, room: RoomID(Int64.max))
        var rows: [(Room, readSeq: Int64, joinedSeq: Int64, active: Int64)] = []
        try ctx.db.query("""
            SELECT r.id, r.kind, r.name, r.last_seq, r.last_active_at, r.member_count, r.created_at,
                   m.read_seq, m.joined_seq, m.last_active_at
            FROM members m JOIN rooms r ON r.id = m.room_id
            WHERE m.user_id = ?1 AND (m.last_active_at < ?2 OR (m.last_active_at = ?2 AND m.room_id < ?3))
            ORDER BY m.last_active_at DESC, m.room_id DESC LIMIT ?4
            """, [.integer(me.rawValue), .integer(after.lastActiveAt), .integer(after.room.rawValue),
                  .integer(Int64(limit + 1))]) { row in
            rows.append((Rooms.rowToRoom(row), row.int64(7), row.int64(8), row.int64(9)))
        }
        let hasMore = rows.count > limit
        if hasMore { rows.removeLast() }
        var conversations: [Conversation] = []
        for (room, readSeq, joinedSeq, active) in rows {
            conversations.append(Conversation(
                room: room, peer: try Rooms.peer(ctx.db, room: room, me: me), readSeq: readSeq, lastActiveAt: active,
                preview: try Messages.latest(ctx.db, room: room.id, joinedSeq: joinedSeq, count: preview)))
        }
        let next = hasMore ? rows.last.map { PageToken(lastActiveAt: $0.active, room: $0.0.id).encoded } : nil
        return ConversationPage(conversations: conversations, nextPage: next, cursor: try Stream.head(ctx.db, user: me))
    }

    /// Moves the caller's read marker forward (never back) and tells their other
    /// devices with a `read` event. A seq beyond the room's last seq is an error.
    public static func markRead(_ ctx: WriteContext, me: Principal, room: RoomID, seq: Int64) throws -> Int64 {
        let membership = try Rooms.requireMember(ctx.db, room: room, user: me.user)
        let lastSeq = try Rooms.load(ctx.db, room).lastSeq
        guard seq >= 0, seq <= lastSeq else { throw SyncError.seqOutOfRange(lastSeq: lastSeq) }
        guard seq > membership.readSeq else { return membership.readSeq }
        try ctx.db.run("UPDATE members SET read_seq = ? WHERE room_id = ? AND user_id = ?",
                       [.integer(seq), .integer(room.rawValue), .integer(me.user.rawValue)])
        try Inbox.append(ctx, user: me.user, kind: .read, room: room, roomSeq: seq,
                         payload: .object([("read_seq", .int(seq))]))
        return seq
    }

    /// Total unread and the rooms that have any.
    public static func unread(_ ctx: ReadContext, me: UserID) throws -> (total: Int64, rooms: [(RoomID, Int64)]) {
        var rooms: [(RoomID, Int64)] = []
        var total: Int64 = 0
        try ctx.db.query("""
            SELECT r.id, r.last_seq - m.read_seq FROM members m JOIN rooms r ON r.id = m.room_id
            WHERE m.user_id = ? AND r.last_seq > m.read_seq ORDER BY m.last_active_at DESC, r.id DESC
            """, [.integer(me.rawValue)]) { row in
            rooms.append((RoomID(row.int64(0)), row.int64(1)))
            total += row.int64(1)
        }
        return (total, rooms)
    }
}
