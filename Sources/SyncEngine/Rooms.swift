import JSON

/// Direct and group rooms and their membership. A direct chat is a room of two found
/// by `direct_key`; after that, both kinds share every table and code path.
public enum Rooms {
    public struct Membership: Sendable {
        public let joinedSeq: Int64
        public let readSeq: Int64
        public let role: String

        /// Memberwise (public: backends construct it).
        public init(joinedSeq: Int64, readSeq: Int64, role: String) {
            self.joinedSeq = joinedSeq
            self.readSeq = readSeq
            self.role = role
        }
    }

    /// The caller's membership of `room`: 404 if the room does not exist, 403 if the
    /// caller is not (or no longer) a member.
    static func requireMember(_ db: any StoreReader, room: RoomID, user: UserID) throws -> Membership {
        if let m = try db.membership(room: room, user: user) { return m }
        throw try db.roomExists(room) ? SyncError.notMember : SyncError.roomNotFound
    }

    static func load(_ db: any StoreReader, _ room: RoomID) throws -> Room {
        guard let r = try db.room(room) else { throw SyncError.roomNotFound }
        return r
    }

    /// The other member's name in a direct room (nil for groups).
    static func peer(_ db: any StoreReader, room: Room, me: UserID) throws -> String? {
        guard room.kind == .direct else { return nil }
        return try db.otherMemberName(room: room.id, excluding: me)
    }

    // MARK: writes

    /// Gets or creates the direct room between the caller and `otherName`. Idempotent:
    /// `direct_key` is unique, so of two concurrent creations one inserts and the other
    /// gets the room it inserted (under the single writer, the look-up already finds it).
    public static func direct(_ ctx: WriteContext, me: Principal, otherName: String) throws -> (Room, created: Bool) {
        guard let other = try Accounts.user(ctx.store, named: otherName) else { throw SyncError.userNotFound(otherName) }
        guard other.id != me.user else { throw SyncError.invalid(field: "name", reason: "a direct room needs another user") }
        let (a, b) = me.user < other.id ? (me.user, other.id) : (other.id, me.user)
        let key = "dm:\(a.rawValue):\(b.rawValue)"
        if let id = try ctx.store.directRoom(key: key) { return (try load(ctx.store, id), false) }
        guard let room = try ctx.store.insertDirectRoom(key: key, createdBy: me.user, at: ctx.now) else {
            guard let id = try ctx.store.directRoom(key: key) else { throw SyncError.storageUnavailable }
            return (try load(ctx.store, id), false)
        }
        try insertMember(ctx, room: room, user: me.user, role: "member", joinedSeq: 0)
        try insertMember(ctx, room: room, user: other.id, role: "member", joinedSeq: 0)
        try Inbox.appendToMembers(ctx, room: room, kind: .member, roomSeq: nil,
                                  payload: Inbox.memberPayload(action: "created", user: me.userName, by: nil))
        return (try load(ctx.store, room), true)
    }

    public static func createGroup(_ ctx: WriteContext, me: Principal, name: String, memberNames: [String]) throws -> Room {
        guard Validation.isValidDisplayName(name, max: 128) else {
            throw SyncError.invalid(field: "name", reason: "1-128 characters, at least one visible, no control characters")
        }
        let others = try resolveUsers(ctx.store, memberNames).filter { $0.id != me.user }
        let room = try ctx.store.insertGroupRoom(name: name, createdBy: me.user, at: ctx.now)
        try insertMember(ctx, room: room, user: me.user, role: "owner", joinedSeq: 0)
        for u in others { try insertMember(ctx, room: room, user: u.id, role: "member", joinedSeq: 0) }
        try updateHotness(ctx, room)
        // Every member must learn of the new room, hot or not: one event each, once.
        try Inbox.appendToMembers(ctx, room: room, kind: .member, roomSeq: nil,
                                  payload: Inbox.memberPayload(action: "created", user: me.userName, by: nil))
        return try load(ctx.store, room)
    }

    /// Adds users to a group; any member may invite. Already-members are skipped.
    /// Each new member sees messages from now on (joined_seq = the room's last seq).
    public static func addMembers(_ ctx: WriteContext, me: Principal, room: RoomID, names: [String]) throws -> [Member] {
        try ctx.store.lockRoom(room)   // ordered with the room's sends; reads see the latest commit
        _ = try requireMember(ctx.store, room: room, user: me.user)
        let r = try load(ctx.store, room)
        guard r.kind == .group else { throw SyncError.forbidden("members of a direct room cannot change") }
        var added: [Member] = []
        for u in try resolveUsers(ctx.store, names) {
            if try ctx.store.isMember(room: room, user: u.id) { continue }
            try insertMember(ctx, room: room, user: u.id, role: "member", joinedSeq: r.lastSeq)
            // A rejoin starts at the new join point; the old departure's range stays
            // deliverable only until then, so it is simply dropped.
            try ctx.store.clearHotDeparture(user: u.id, room: room)
            added.append(Member(user: u.id, name: u.name, role: "member", joinedSeq: r.lastSeq, readSeq: r.lastSeq))
            try memberEvent(ctx, room: room, hot: r.hot, affected: u.id,
                            payload: Inbox.memberPayload(action: "added", user: u.name, by: me.userName))
        }
        try updateHotness(ctx, room)
        return added
    }

    /// Removes `name` from a group: members may leave; only the owner removes others.
    public static func removeMember(_ ctx: WriteContext, me: Principal, room: RoomID, name: String) throws {
        // Ordered with the room's sends, so a hot room's departure records the last seq
        // the leaver was a member for (and `hot` is read as it is now).
        try ctx.store.lockRoom(room)
        let mine = try requireMember(ctx.store, room: room, user: me.user)
        let r = try load(ctx.store, room)
        guard r.kind == .group else { throw SyncError.forbidden("members of a direct room cannot change") }
        guard let target = try Accounts.user(ctx.store, named: name) else { throw SyncError.userNotFound(name) }
        guard target.id == me.user || mine.role == "owner" else {
            throw SyncError.forbidden("only the room owner can remove other members")
        }
        // Checked before anything is written: a command that fails after writing costs
        // its whole batch a replay (see WriterCore.runTransaction).
        guard try ctx.store.isMember(room: room, user: target.id) else {
            throw SyncError.invalid(field: "name", reason: "\(name) is not a member")
        }
        let payload = Inbox.memberPayload(action: target.id == me.user ? "left" : "removed", user: target.name,
                                          by: target.id == me.user ? nil : me.userName)
        // Everyone who was a member, the leaver included, learns of it (in a hot room only the leaver).
        try memberEvent(ctx, room: room, hot: r.hot, affected: target.id, payload: payload)
        if r.hot {
            // Keep what was sent up to the leave deliverable to the leaver's lagging devices.
            try ctx.store.recordHotDeparture(user: target.id, room: room, at: ctx.now)
        }
        guard try ctx.store.deleteMember(room: room, user: target.id) else {
            throw SyncError.invalid(field: "name", reason: "\(name) is not a member")
        }
        // Receipts are for members: a mark still pending for the leaver is dropped.
        try ctx.store.dropReceiptMarks(room: room, sender: target.id)
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
        _ = try ctx.store.makeHotIfReached(room: room, threshold: ctx.config.hotThreshold)
    }

    private static func insertMember(_ ctx: WriteContext, room: RoomID, user: UserID, role: String, joinedSeq: Int64) throws {
        try ctx.store.insertMember(room: room, user: user, role: role, joinedSeq: joinedSeq, at: ctx.now)
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
        _ = try requireMember(ctx.store, room: room, user: me)
        let r = try load(ctx.store, room)
        return (r, try peer(ctx.store, room: r, me: me))
    }

    /// A page of a room's members by name: at most `limit`, names after `after`;
    /// `nextAfter` (the page's last name) when more follow.
    public static func members(_ ctx: ReadContext, me: UserID, room: RoomID, after: String?, limit: Int) throws -> MemberPage {
        _ = try requireMember(ctx.store, room: room, user: me)
        var rows = try ctx.store.members(of: room, after: after, limit: limit + 1)
        let more = rows.count > limit
        if more { rows.removeLast() }
        return MemberPage(members: rows, nextAfter: more ? rows.last?.name : nil)
    }

    public struct MemberPage: Sendable {
        public let members: [Member]
        public let nextAfter: String?
    }
}
