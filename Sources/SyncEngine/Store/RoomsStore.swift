import JSON

// Rooms and memberships.

public protocol RoomsReads {
    /// The room, or nil if it does not exist.
    func room(_ room: RoomID) throws -> Room?

    /// Whether the room exists.
    func roomExists(_ room: RoomID) throws -> Bool

    /// The direct room with this `direct_key` ("dm:<smaller id>:<larger id>"), or nil.
    func directRoom(key: String) throws -> RoomID?

    /// `user`'s membership of `room`, or nil if they are not (or no longer) a member.
    func membership(room: RoomID, user: UserID) throws -> Rooms.Membership?

    /// Whether `user` is a member of `room`.
    func isMember(room: RoomID, user: UserID) throws -> Bool

    /// The name of a member of `room` other than `user` (the peer of a direct room), or nil.
    func otherMemberName(room: RoomID, excluding user: UserID) throws -> String?

    /// `otherMemberName` for each of `rooms` (direct rooms: their peers), in one read;
    /// rooms without another member are absent from the result.
    func otherMemberNames(rooms: [RoomID], excluding user: UserID) throws -> [RoomID: String]

    /// For each of `names` that names a user: how many rooms they are in, and whether
    /// one of them is `room` (nil: none asked). One read, whatever the count.
    func roomCounts(userNames names: [String], room: RoomID?) throws -> [String: (rooms: Int, inRoom: Bool)]

    /// A page of the room's members by user name (bytewise), names strictly after
    /// `after`, at most `limit`.
    func members(of room: RoomID, after: String?, limit: Int) throws -> [Member]
}

public protocol RoomsWrites {
    /// Creates a direct room (no members yet, `last_seq` 0, not hot) and returns its id,
    /// or nil if a room with `key` already exists: `direct_key` is unique in the store,
    /// so of two concurrent creations of one pair's room exactly one succeeds and the
    /// other finds it with `directRoom(key:)`.
    func insertDirectRoom(key: String, createdBy: UserID, at: Int64) throws -> RoomID?

    /// Creates a group room (no members yet, `last_seq` 0, not hot) and returns its id.
    func insertGroupRoom(name: String, createdBy: UserID, at: Int64) throws -> RoomID

    /// Makes `user` a member of `room` (read marker at `joinedSeq`, active at `at`,
    /// hot as the room is) and counts them in the room's `member_count`, together.
    /// The user must not already be a member.
    func insertMember(room: RoomID, user: UserID, role: String, joinedSeq: Int64, at: Int64) throws

    /// Removes `user` from `room` and, if they were a member, uncounts them from
    /// `member_count`, together; false if they were not a member (nothing changed).
    /// The caller took the room's lock first (`lockRoom`).
    func deleteMember(room: RoomID, user: UserID) throws -> Bool

    /// Turns `room` hot if it is not yet and has at least `threshold` members, recording
    /// its current `last_seq` as where read diffusion starts, and marks every membership
    /// of it hot too; true if it turned hot now. A hot room never turns back.
    func makeHotIfReached(room: RoomID, threshold: Int) throws -> Bool

    /// Records that `user` left hot `room` at `at`: what was sent up to now from their
    /// join (or from the room turning hot, if later) stays deliverable to their lagging
    /// devices. Replaces an earlier departure from the same room. Runs before the
    /// membership is deleted.
    func recordHotDeparture(user: UserID, room: RoomID, at: Int64) throws

    /// Forgets `user`'s departure from `room` (they rejoined).
    func clearHotDeparture(user: UserID, room: RoomID) throws

    /// Drops the receipt marks still pending for `sender`'s messages in `room`.
    func dropReceiptMarks(room: RoomID, sender: UserID) throws

    /// Takes the room row's lock until the unit commits, before anything of the room is
    /// read: a membership change, a read marker or a receipts flush is then ordered with
    /// the room's sends (which lock the room first too, `sendTarget`) and reads the latest
    /// commit. A no-op for a single writer (its units are serial).
    func lockRoom(_ room: RoomID) throws

    /// Moves every member's `last_active_at` of `room` to `at` (never backwards).
    /// Called once per room per batch, just before the commit, by a batch whose sends
    /// into `room` hold its lock (`sendTarget`): every unit that writes a room's member
    /// rows takes the room lock first, so this waits on no other transaction.
    func touchMembers(room: RoomID, at: Int64) throws

    /// `touchMembers` for every room of a batch at once (room -> time), in room id order
    /// (a fixed lock order): one statement on a backend across a network. The default
    /// implementation touches one room after the other.
    func touchMembers(rooms: [RoomID: Int64]) throws

    /// Members added to a group, the whole data step in one operation (`Rooms.addMembers`):
    /// the room row's lock first, then the adder's membership, the room's kind and the
    /// users named (the first unknown name refuses it all), then for each one not yet a
    /// member: the membership at the room's last seq (`insertMember`), its old hot
    /// departure forgotten, and its `member` event (every member of a normal room, only
    /// the joiner in a hot room), and at last the room's hotness (`makeHotIfReached`).
    /// Nothing is written unless the outcome is `.added`. The default implementation below
    /// composes the fine-grained operations.
    func addMembersToGroup(_ request: AddMembersRequest) throws -> AddMembersOutcome

    /// A member leaves or is removed from a group, in one operation (`Rooms.removeMember`):
    /// the room row's lock first, the remover's membership and role, the room's kind, the
    /// target named; then the `member` event (every member, the leaver included; in a hot
    /// room only the leaver, with its departure recorded), the membership
    /// (`deleteMember`) and the leaver's pending receipt marks. Nothing is written unless
    /// the outcome is `.removed`.
    func removeMemberFromGroup(_ request: RemoveMemberRequest) throws -> RemoveMemberOutcome
}

public struct AddMembersRequest: Sendable {
    public let room: RoomID
    public let by: UserID
    /// Distinct user names, in order.
    public let names: [String]
    /// The `member` event's payload for each name.
    public let payloads: [JSONValue]
    public let at: Int64
    public let hotThreshold: Int

    public init(room: RoomID, by: UserID, names: [String], payloads: [JSONValue], at: Int64, hotThreshold: Int) {
        self.room = room
        self.by = by
        self.names = names
        self.payloads = payloads
        self.at = at
        self.hotThreshold = hotThreshold
    }
}

public enum AddMembersOutcome: Sendable {
    case roomNotFound
    /// The adder is not a member.
    case notMember
    /// A direct room.
    case notGroup
    case userNotFound(String)
    /// The members who joined (at the room's last seq), in the order named, and the
    /// `member` event rows written.
    case added(members: [Member], events: [InboxAppend])
}

public struct RemoveMemberRequest: Sendable {
    public let room: RoomID
    public let by: UserID
    public let name: String
    public let payload: JSONValue
    public let at: Int64

    public init(room: RoomID, by: UserID, name: String, payload: JSONValue, at: Int64) {
        self.room = room
        self.by = by
        self.name = name
        self.payload = payload
        self.at = at
    }
}

public enum RemoveMemberOutcome: Sendable {
    case roomNotFound
    /// The remover is not a member.
    case notMember
    case notGroup
    case userNotFound
    /// Someone else removed by a member who does not own the room.
    case notOwner
    /// The user named is not a member.
    case targetNotMember
    /// The `member` event rows written.
    case removed(events: [InboxAppend])
}

extension RoomsWrites where Self: StoreWriter {
    public func addMembersToGroup(_ r: AddMembersRequest) throws -> AddMembersOutcome {
        try lockRoom(r.room)   // ordered with the room's sends; reads see the latest commit
        guard try membership(room: r.room, user: r.by) != nil else {
            return try roomExists(r.room) ? .notMember : .roomNotFound
        }
        guard let room = try room(r.room) else { return .roomNotFound }
        guard room.kind == .group else { return .notGroup }
        var users: [User] = []
        for name in r.names {
            guard let u = try user(named: name) else { return .userNotFound(name) }
            users.append(u)
        }
        var position: Int64?
        var added: [Member] = []
        var events: [InboxAppend] = []
        for (i, u) in users.enumerated() {
            if try isMember(room: r.room, user: u.id) { continue }
            try insertMember(room: r.room, user: u.id, role: "member", joinedSeq: room.lastSeq, at: r.at)
            // A rejoin starts at the new join point; the old departure's range stays
            // deliverable only until then, so it is simply dropped.
            try clearHotDeparture(user: u.id, room: r.room)
            added.append(Member(user: u.id, name: u.name, role: "member", joinedSeq: room.lastSeq, readSeq: room.lastSeq))
            if position == nil { position = try commitPosition() }
            let entry = InboxEntry(kind: .member, room: r.room, roomSeq: nil, payload: r.payloads[i], createdAt: r.at,
                                   position: position!)
            events += try Self.memberEvent(self, room: r.room, hot: room.hot, affected: u.id, entry)
        }
        _ = try makeHotIfReached(room: r.room, threshold: r.hotThreshold)
        return .added(members: added, events: events)
    }

    public func removeMemberFromGroup(_ r: RemoveMemberRequest) throws -> RemoveMemberOutcome {
        // Ordered with the room's sends, so a hot room's departure records the last seq
        // the leaver was a member for (and `hot` is read as it is now).
        try lockRoom(r.room)
        guard let mine = try membership(room: r.room, user: r.by) else {
            return try roomExists(r.room) ? .notMember : .roomNotFound
        }
        guard let room = try room(r.room) else { return .roomNotFound }
        guard room.kind == .group else { return .notGroup }
        guard let target = try user(named: r.name) else { return .userNotFound }
        guard target.id == r.by || mine.role == "owner" else { return .notOwner }
        // Checked before anything is written: a command that fails after writing costs
        // its whole batch a replay.
        guard try isMember(room: r.room, user: target.id) else { return .targetNotMember }
        let entry = InboxEntry(kind: .member, room: r.room, roomSeq: nil, payload: r.payload, createdAt: r.at,
                               position: try commitPosition())
        // Everyone who was a member, the leaver included, learns of it (in a hot room only the leaver).
        let events = try Self.memberEvent(self, room: r.room, hot: room.hot, affected: target.id, entry)
        if room.hot {
            // Keep what was sent up to the leave deliverable to the leaver's lagging devices.
            try recordHotDeparture(user: target.id, room: r.room, at: r.at)
        }
        guard try deleteMember(room: r.room, user: target.id) else { return .targetNotMember }
        // Receipts are for members: a mark still pending for the leaver is dropped.
        try dropReceiptMarks(room: r.room, sender: target.id)
        return .removed(events: events)
    }

    /// A membership change's event: in a normal room every member gets it; in a hot room
    /// only the affected user (a join must not cost one inbox row per member of a
    /// 10,000-member room; the member list is there to read).
    private static func memberEvent(_ store: Self, room: RoomID, hot: Bool, affected: UserID,
                                    _ entry: InboxEntry) throws -> [InboxAppend] {
        if hot {
            guard let seq = try store.appendToInbox(user: affected, entry) else {
                throw SyncError.userNotFound(String(affected.rawValue))
            }
            return [InboxAppend(user: affected, seq: seq)]
        }
        return try store.appendToMembers(room: room, entry, recipients: nil)
    }
}

extension RoomsWrites {
    public func touchMembers(rooms: [RoomID: Int64]) throws {
        for room in rooms.keys.sorted() { try touchMembers(room: room, at: rooms[room]!) }
    }
}
