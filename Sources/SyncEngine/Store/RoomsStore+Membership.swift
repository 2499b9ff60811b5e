import JSON

// A join's and a leave's data step in one operation each (`RoomsWrites.addMembersToGroup`,
// `removeMemberFromGroup`): their requests, outcomes and default implementations.

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
            // A rejoin starts at the new join point; an earlier stay's departure is kept
            // (a device behind across the leave still gets what was sent during it).
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
