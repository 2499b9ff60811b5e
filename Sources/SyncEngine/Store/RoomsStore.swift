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
    /// devices, with the user's inbox seq now (the leave's `member` event, appended
    /// before). One row per stay: earlier stays in the room are kept (a device may be
    /// behind across a leave and a rejoin). Runs before the membership is deleted.
    func recordHotDeparture(user: UserID, room: RoomID, at: Int64) throws

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
