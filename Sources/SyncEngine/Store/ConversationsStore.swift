import JSON

// The first screen, unread counters and read markers.
//
// The conversation list is keyset-paginated over activity. Normal rooms keep their
// activity on the member row (write diffusion), hot rooms on the room row; the domain
// merges the two sources with an exact page size, so the reads below only return
// candidates, each with the member row's activity (`memberActiveAt`).

public protocol ConversationsReads {
    /// `user`'s memberships of hot rooms, in no particular order (a user is in few).
    func hotConversations(user: UserID) throws -> [Conversations.Candidate]

    /// `user`'s memberships of normal rooms at or above the keyset position: member
    /// activity > `activity`, or = `activity` with room id >= `room`. In no particular
    /// order (these are the rooms that moved up since the first page, or new ones).
    func normalConversations(user: UserID, atOrAbove activity: Int64, room: RoomID) throws -> [Conversations.Candidate]

    /// `user`'s memberships of normal rooms strictly below the keyset position (member
    /// activity < `activity`, or = `activity` with room id < `room`), newest activity
    /// first, then room id descending; at most `limit`. Served by an index on the
    /// member's (user, activity, room).
    func normalConversations(user: UserID, below activity: Int64, room: RoomID, limit: Int) throws -> [Conversations.Candidate]

    /// The rooms where `user` has unread messages (messages, not change rows, above the
    /// member's read marker: see `Conversations.Candidate.unread`) with that count, most recently active first (room activity for hot rooms,
    /// member activity otherwise), then room id descending.
    func unreadRooms(user: UserID) throws -> [(room: RoomID, unread: Int64)]
}

public protocol ConversationsWrites {
    /// Moves `user`'s read marker in `room` to `seq` if it is below `seq`: a marker only
    /// moves forward, also when two writers race (the comparison is part of the update,
    /// under the member row's lock). Returns whether it moved.
    func advanceReadMarker(room: RoomID, user: UserID, to seq: Int64) throws -> Bool

    /// A read marker's whole data step (`Conversations.markRead`), in one operation: the
    /// room row's lock first, the membership and the room's last seq read under it, the
    /// marker moved forward only (`advanceReadMarker`), the receipts of the messages it
    /// passed, and the reader's `read` event (payload `request.payload`) at the commit
    /// position. Nothing is written unless the outcome is `.moved`. The default
    /// implementation below composes the fine-grained operations.
    func moveReadMarker(_ request: ReadMarkerRequest) throws -> ReadMarkerOutcome
}

public struct ReadMarkerRequest: Sendable {
    public let room: RoomID
    public let user: UserID
    public let seq: Int64
    public let at: Int64
    /// Receipt marks last emitted at or before this are due.
    public let receiptsDueBy: Int64
    /// The `read` event's payload.
    public let payload: JSONValue

    public init(room: RoomID, user: UserID, seq: Int64, at: Int64, receiptsDueBy: Int64, payload: JSONValue) {
        self.room = room
        self.user = user
        self.seq = seq
        self.at = at
        self.receiptsDueBy = receiptsDueBy
        self.payload = payload
    }
}

public enum ReadMarkerOutcome: Sendable {
    case roomNotFound
    case notMember
    /// `seq` is negative or past the room's last seq.
    case outOfRange(lastSeq: Int64)
    /// The marker is already at or past `seq`: it stays at `readSeq`.
    case unchanged(readSeq: Int64)
    /// Another writer moved it to `seq` or beyond since the membership was read (it sends
    /// the events).
    case raced
    /// Moved from `from`; the receipts written and the reader's `read` event.
    case moved(from: Int64, receipts: ReceiptsEmitted, readEvent: InboxAppend)
}

extension ConversationsWrites where Self: StoreWriter {
    public func moveReadMarker(_ r: ReadMarkerRequest) throws -> ReadMarkerOutcome {
        // The room first, as sends take it: then marker, receipts and inbox rows are
        // locked in the same order by every unit of the room.
        try lockRoom(r.room)
        guard let membership = try membership(room: r.room, user: r.user) else {
            return try roomExists(r.room) ? .notMember : .roomNotFound
        }
        guard let lastSeq = try room(r.room)?.lastSeq else { return .roomNotFound }
        guard r.seq >= 0, r.seq <= lastSeq else { return .outOfRange(lastSeq: lastSeq) }
        guard r.seq > membership.readSeq else { return .unchanged(readSeq: membership.readSeq) }
        guard try advanceReadMarker(room: r.room, user: r.user, to: r.seq) else { return .raced }
        var position: Int64?
        let at: () throws -> Int64 = {
            if let position { return position }
            let p = try self.commitPosition()
            position = p
            return p
        }
        let receipts = try Receipts.markAndEmit(self, room: r.room, reader: r.user, from: membership.readSeq, to: r.seq,
                                                dueBy: r.receiptsDueBy, at: r.at, position: at)
        let entry = InboxEntry(kind: .read, room: r.room, roomSeq: r.seq, payload: r.payload, createdAt: r.at,
                               position: try at())
        guard let seq = try appendToInbox(user: r.user, entry) else { throw SyncError.userNotFound(String(r.user.rawValue)) }
        return .moved(from: membership.readSeq, receipts: receipts, readEvent: InboxAppend(user: r.user, seq: seq))
    }
}

extension Conversations {
    /// A room of the user's conversation list, before the page is cut.
    public struct Candidate: Sendable {
        public let room: Room
        /// The member's read marker and join seq.
        public let readSeq: Int64
        public let joinedSeq: Int64
        /// The member row's activity (the room's own is `room.lastActiveAt`).
        public let memberActiveAt: Int64
        /// The messages (not change rows) above the read marker (`Unread`).
        public let unread: Int64

        /// Memberwise (public: backends construct it).
        public init(room: Room, readSeq: Int64, joinedSeq: Int64, memberActiveAt: Int64, unread: Int64) {
            self.room = room
            self.readSeq = readSeq
            self.joinedSeq = joinedSeq
            self.memberActiveAt = memberActiveAt
            self.unread = unread
        }
    }
}
