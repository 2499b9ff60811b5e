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
        try checkRoomLimit(ctx, [me.userName, other.name], room: nil)
        guard let room = try ctx.store.insertDirectRoom(key: key, createdBy: me.user, at: ctx.now) else {
            guard let id = try ctx.store.directRoom(key: key) else { throw SyncError.unexpected("the direct room whose key was taken is not there") }
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
        try checkRoomLimit(ctx, [me.userName] + others.map(\.name), room: nil)
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
    /// Each new member sees messages from now on (joined_seq = the room's last seq). One
    /// store operation (`RoomsWrites.addMembersToGroup`: the room's lock first, ordered
    /// with its sends); the answers and wake-ups are decided here.
    public static func addMembers(_ ctx: WriteContext, me: Principal, room: RoomID, names: [String]) throws -> [Member] {
        var seen = Set<String>()
        let distinct = names.filter { seen.insert($0).inserted }
        try checkRoomLimit(ctx, distinct, room: room)
        let request = AddMembersRequest(
            room: room, by: me.user, names: distinct,
            payloads: distinct.map { Inbox.memberPayload(action: "added", user: $0, by: me.userName) },
            at: ctx.now, hotThreshold: ctx.config.hotThreshold)
        switch try ctx.store.addMembersToGroup(request) {
        case .roomNotFound: throw SyncError.roomNotFound
        case .notMember: throw SyncError.notMember
        case .notGroup: throw SyncError.forbidden("members of a direct room cannot change")
        case .userNotFound(let name): throw SyncError.userNotFound(name)
        case .added(let members, let events):
            for e in events { ctx.wake(e.user, at: e.seq) }
            ctx.inboxRows += events.count
            return members
        }
    }

    /// Removes `name` from a group: members may leave; only the owner removes others. One
    /// store operation (`RoomsWrites.removeMemberFromGroup`, the room's lock first).
    public static func removeMember(_ ctx: WriteContext, me: Principal, room: RoomID, name: String) throws {
        let leaving = name == me.userName
        let payload = Inbox.memberPayload(action: leaving ? "left" : "removed", user: name, by: leaving ? nil : me.userName)
        switch try ctx.store.removeMemberFromGroup(RemoveMemberRequest(room: room, by: me.user, name: name, payload: payload,
                                                                        at: ctx.now)) {
        case .roomNotFound: throw SyncError.roomNotFound
        case .notMember: throw SyncError.notMember
        case .notGroup: throw SyncError.forbidden("members of a direct room cannot change")
        case .userNotFound: throw SyncError.userNotFound(name)
        case .notOwner: throw SyncError.forbidden("only the room owner can remove other members")
        case .targetNotMember: throw SyncError.invalid(field: "name", reason: "\(name) is not a member")
        case .removed(let events):
            for e in events { ctx.wake(e.user, at: e.seq) }
            ctx.inboxRows += events.count
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

    /// Refuses to put any of `names` into one more room when they are in
    /// `maxRoomsPerUser` already (names already in `room` are not joining: skipped).
    /// Checked in the unit that adds them; two units adding one user to two rooms at
    /// once may pass the limit by one each (a user's count is not locked).
    private static func checkRoomLimit(_ ctx: WriteContext, _ names: [String], room: RoomID?) throws {
        let limit = ctx.config.maxRoomsPerUser
        guard limit > 0, !names.isEmpty else { return }
        let counts = try ctx.store.roomCounts(userNames: names, room: room)
        for name in names {
            guard let c = counts[name], !c.inRoom, c.rooms >= limit else { continue }
            throw SyncError.roomLimit(user: name, limit: limit)
        }
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
