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

    /// The rooms where `user` has unread messages (room last seq - member read seq > 0)
    /// with that count, most recently active first (room activity for hot rooms,
    /// member activity otherwise), then room id descending.
    func unreadRooms(user: UserID) throws -> [(room: RoomID, unread: Int64)]
}

public protocol ConversationsWrites {
    /// Moves `user`'s read marker in `room` to `seq` if it is below `seq`: a marker only
    /// moves forward, also when two writers race (the comparison is part of the update,
    /// under the member row's lock). Returns whether it moved.
    func advanceReadMarker(room: RoomID, user: UserID, to seq: Int64) throws -> Bool
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

        /// Memberwise (public: backends construct it).
        public init(room: Room, readSeq: Int64, joinedSeq: Int64, memberActiveAt: Int64) {
            self.room = room
            self.readSeq = readSeq
            self.joinedSeq = joinedSeq
            self.memberActiveAt = memberActiveAt
        }
    }
}
