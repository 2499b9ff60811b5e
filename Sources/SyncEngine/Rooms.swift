import JSON
import SQLiteStore

/// Direct and group rooms and their membership. A direct chat is a room of two found
/// by `direct_key`; after that, both kinds share every table and code path.
public enum Rooms {
    struct Membership {
        let joinedSeq: Int64
        let readSeq: Int64
        let role: String
    }

    /// The caller's membership of `room`: 404 if the room does not exist, 403 if the
    /// caller is not (or no longer) a member.
    static func requireMember(_ db: any StoreReader, room: RoomID, user: UserID) throws -> Membership {
        if let m = try db.queryOne("SELECT joined_seq, read_seq, role FROM members WHERE room_id = ? AND user_id = ?",
                                   [.integer(room.rawValue), .integer(user.rawValue)], {
            Membership(joinedSeq: $0.int64(0), readSeq: $0.int64(1), role: $0.text(2))
        }) {
            return m
        }
        let exists = try db.queryOne("SELECT 1 FROM rooms WHERE id = ?", [.integer(room.rawValue)]) { _ in true } ?? false
        throw exists ? SyncError.notMember : SyncError.roomNotFound
    }

    static func load(_ db: any StoreReader, _ room: RoomID) throws -> Room {
        guard let r = try db.queryOne("""
            SELECT id, kind, name, last_seq, last_active_at, member_count, created_at, hot FROM rooms WHERE id = ?
            """, [.integer(room.rawValue)], rowToRoom) else { throw SyncError.roomNotFound }
        return r
    }

    static func rowToRoom(_ row: Row) -> Room {
        Room(id: RoomID(row.int64(0)), kind: RoomKind(rawValue: row.text(1)) ?? .group, name: row.optionalText(2),
             lastSeq: row.int64(3), lastActiveAt: row.int64(4), memberCount: row.int(5), createdAt: row.int64(6),
             hot: row.bool(7))
    }

    /// The other member's name in a direct room (nil for groups).
    static func peer(_ db: any StoreReader, room: Room, me: UserID) throws -> String? {
        guard room.kind == .direct else { return nil }
        return try db.queryOne("""
            SELECT u.name FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ? AND m.user_id != ?
            """, [.integer(room.id.rawValue), .integer(me.rawValue)]) { $0.text(0) }
    }

    // MARK: writes

    /// Gets or creates the direct room between the caller and `otherName`. Idempotent:
    /// the writer serializes concurrent calls, and `direct_key` is unique.
    public static func direct(_ ctx: WriteContext, me: Principal, otherName: String) throws -> (Room, created: Bool) {
        guard let other = try Accounts.user(ctx.db, named: otherName) else { throw SyncError.userNotFound(otherName) }
        guard other.id != me.user else { throw SyncError.invalid(field: "name", reason: "a direct room needs another user") }
        let (a, b) = me.user < other.id ? (me.user, other.id) : (other.id, me.user)
        let key = "dm:\(a.rawValue):\(b.rawValue)"
        if let id = try ctx.db.queryOne("SELECT id FROM rooms WHERE direct_key = ?", [.text(key)], { RoomID($0.int64(0)) }) {
            return (try load(ctx.db, id), false)
        }
        try ctx.db.run("""
            INSERT INTO rooms (kind, direct_key, last_active_at, member_count, created_by, created_at)
            VALUES ('direct', ?, ?, 0, ?, ?)
            """, [.text(key), .integer(ctx.now), .integer(me.user.rawValue), .integer(ctx.now)])
        let room = RoomID(ctx.db.lastInsertRowID)
        try insertMember(ctx, room: room, user: me.user, role: "member", joinedSeq: 0)
        try insertMember(ctx, room: room, user: other.id, role: "member", joinedSeq: 0)
        try Inbox.appendToMembers(ctx, room: room, kind: .member, roomSeq: nil,
                                  payload: Inbox.memberPayload(action: "created", user: me.userName, by: nil))
        return (try load(ctx.db, room), true)
    }

    public static func createGroup(_ ctx: WriteContext, me: Principal, name: String, memberNames: [String]) throws -> Room {
        guard Validation.isValidDisplayName(name, max: 128) else {
            throw SyncError.invalid(field: "name", reason: "1-128 characters, no control characters")
        }
        let others = try resolveUsers(ctx.db, memberNames).filter { $0.id != me.user }
        try ctx.db.run("""
            INSERT INTO rooms (kind, name, last_active_at, member_count, created_by, created_at)
            VALUES ('group', ?, ?, 0, ?, ?)
            """, [.text(name), .integer(ctx.now), .integer(me.user.rawValue), .integer(ctx.now)])
        let room = RoomID(ctx.db.lastInsertRowID)
        try insertMember(ctx, room: room, user: me.user, role: "owner", joinedSeq: 0)
        for u in others { try insertMember(ctx, room: room, user: u.id, role: "member", joinedSeq: 0) }
        try updateHotness(ctx, room)
        // Every member must learn of the new room, hot or not: one event each, once.
        try Inbox.appendToMembers(ctx, room: room, kind: .member, roomSeq: nil,
                                  payload: Inbox.memberPayload(action: "created", user: me.userName, by: nil))
        return try load(ctx.db, room)
    }

    /// Adds users to a group; any member may invite. Already-members are skipped.
    /// Each new member sees messages from now on (joined_seq = the room's last seq).
    public static func addMembers(_ ctx: WriteContext, me: Principal, room: RoomID, names: [String]) throws -> [Member] {
        _ = try requireMember(ctx.db, room: room, user: me.user)
        let r = try load(ctx.db, room)
        guard r.kind == .group else { throw SyncError.forbidden("members of a direct room cannot change") }
        var added: [Member] = []
        for u in try resolveUsers(ctx.db, names) {
            let exists = try ctx.db.queryOne("SELECT 1 FROM members WHERE room_id = ? AND user_id = ?",
                                             [.integer(room.rawValue), .integer(u.id.rawValue)]) { _ in true } ?? false
            if exists { continue }
            try insertMember(ctx, room: room, user: u.id, role: "member", joinedSeq: r.lastSeq)
            // A rejoin starts at the new join point; the old departure's range stays
            // deliverable only until then, so it is simply dropped.
            try ctx.db.run("DELETE FROM hot_departures WHERE user_id = ? AND room_id = ?",
                           [.integer(u.id.rawValue), .integer(room.rawValue)])
            added.append(Member(user: u.id, name: u.name, role: "member", joinedSeq: r.lastSeq, readSeq: r.lastSeq))
            try memberEvent(ctx, room: room, hot: r.hot, affected: u.id,
                            payload: Inbox.memberPayload(action: "added", user: u.name, by: me.userName))
        }
        try updateHotness(ctx, room)
        return added
    }

    /// Removes `name` from a group: members may leave; only the owner removes others.
    public static func removeMember(_ ctx: WriteContext, me: Principal, room: RoomID, name: String) throws {
        let mine = try requireMember(ctx.db, room: room, user: me.user)
        let r = try load(ctx.db, room)
        guard r.kind == .group else { throw SyncError.forbidden("members of a direct room cannot change") }
        guard let target = try Accounts.user(ctx.db, named: name) else { throw SyncError.userNotFound(name) }
        guard target.id == me.user || mine.role == "owner" else {
            throw SyncError.forbidden("only the room owner can remove other members")
        }
        // Checked before anything is written: a command that fails after writing costs
        // its whole batch a replay (see WriterCore.runTransaction).
        guard try ctx.db.queryOne("SELECT 1 FROM members WHERE room_id = ? AND user_id = ?",
                                  [.integer(room.rawValue), .integer(target.id.rawValue)], { $0.int(0) }) != nil else {
            throw SyncError.invalid(field: "name", reason: "\(name) is not a member")
        }
        let payload = Inbox.memberPayload(action: target.id == me.user ? "left" : "removed", user: target.name,
                                          by: target.id == me.user ? nil : me.userName)
        // Everyone who was a member, the leaver included, learns of it (in a hot room only the leaver).
        try memberEvent(ctx, room: room, hot: r.hot, affected: target.id, payload: payload)
        if r.hot {
            // Keep what was sent up to the leave deliverable to the leaver's lagging devices.
            try ctx.db.run("""
                INSERT OR REPLACE INTO hot_departures (user_id, room_id, floor, left_seq, left_at)
                SELECT m.user_id, m.room_id, max(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, ?3
                FROM members m JOIN rooms r ON r.id = m.room_id WHERE m.room_id = ?1 AND m.user_id = ?2
                """, [.integer(room.rawValue), .integer(target.id.rawValue), .integer(ctx.now)])
        }
        let removed = try ctx.db.run("DELETE FROM members WHERE room_id = ? AND user_id = ?",
                                     [.integer(room.rawValue), .integer(target.id.rawValue)])
        guard removed == 1 else { throw SyncError.invalid(field: "name", reason: "\(name) is not a member") }
        // Receipts are for members: a mark still pending for the leaver is dropped.
        try ctx.db.run("DELETE FROM receipt_marks WHERE room_id = ? AND sender_id = ?",
                       [.integer(room.rawValue), .integer(target.id.rawValue)])
        try ctx.db.run("UPDATE rooms SET member_count = member_count - 1 WHERE id = ?", [.integer(room.rawValue)])
    }

    /// A membership change: in a normal room every member gets the event; in a hot room
    /// only the affected user (a join must not cost one inbox row per member of a
    /// 10,000-member room; the member list is there to read).
    private static func memberEvent(_ ctx: WriteContext, room: RoomID, hot: Bool, affected: UserID, payload: JSONValue) throws {
        if hot {
            try Inbox.append(ctx, user: affected, kind: .member, room: room, roomSeq: nil, payload: payload)
        } else {
            try Inbox.appendToMembers(ctx, room: room, kind: .member, roomSeq: nil, payload: payload)
        }
    }

    /// A room turns hot when its member count reaches the threshold, and stays hot:
    /// turning it back would mean copying its recent history into every member's inbox
    /// (or leaving holes in their streams), and a room that was big tends to stay big;
    /// never flipping back also keeps a room from flapping around the threshold.
    /// `hot_since_seq` records where read diffusion starts.
    static func updateHotness(_ ctx: WriteContext, _ room: RoomID) throws {
        let flipped = try ctx.db.run("""
            UPDATE rooms SET hot = 1, hot_since_seq = last_seq
            WHERE id = ? AND hot = 0 AND member_count >= ?
            """, [.integer(room.rawValue), .integer(Int64(ctx.config.hotThreshold))])
        // members.hot mirrors rooms.hot (migration 0006): once per room, for every member.
        if flipped > 0 { try ctx.db.run("UPDATE members SET hot = 1 WHERE room_id = ?", [.integer(room.rawValue)]) }
    }

    private static func insertMember(_ ctx: WriteContext, room: RoomID, user: UserID, role: String, joinedSeq: Int64) throws {
        try ctx.db.run("""
            INSERT INTO members (room_id, user_id, joined_seq, read_seq, last_active_at, role, hot)
            VALUES (?1, ?2, ?3, ?3, ?4, ?5, (SELECT hot FROM rooms WHERE id = ?1))
            """, [.integer(room.rawValue), .integer(user.rawValue), .integer(joinedSeq), .integer(ctx.now), .text(role)])
        try ctx.db.run("UPDATE rooms SET member_count = member_count + 1 WHERE id = ?", [.integer(room.rawValue)])
    }

    private static func resolveUsers(_ db: any StoreReader, _ names: [String]) throws -> [User] {
        var seen = Set<String>()
        var users: [User] = []
        for name in names where seen.insert(name).inserted {
            guard let u = try Accounts.user(db, named: name) else { throw SyncError.userNotFound(name) }
            users.append(u)
        }
        return users
    }

    // MARK: reads

    public static func get(_ ctx: ReadContext, me: UserID, room: RoomID) throws -> (Room, peer: String?) {
        _ = try requireMember(ctx.db, room: room, user: me)
        let r = try load(ctx.db, room)
        return (r, try peer(ctx.db, room: r, me: me))
    }

    public static func members(_ ctx: ReadContext, me: UserID, room: RoomID) throws -> [Member] {
        _ = try requireMember(ctx.db, room: room, user: me)
        return try ctx.db.queryAll("""
            SELECT m.user_id, u.name, m.role, m.joined_seq, m.read_seq
            FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ? ORDER BY u.name
            """, [.integer(room.rawValue)]) {
            Member(user: UserID($0.int64(0)), name: $0.text(1), role: $0.text(2), joinedSeq: $0.int64(3), readSeq: $0.int64(4))
        }
    }
}
