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

    /// The members of `room` ordered by user name.
    func members(of room: RoomID) throws -> [Member]
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
}

extension RoomsWrites {
    public func touchMembers(rooms: [RoomID: Int64]) throws {
        for room in rooms.keys.sorted() { try touchMembers(room: room, at: rooms[room]!) }
    }
}
