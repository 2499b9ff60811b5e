// Pruning of old inbox rows and messages (see Store.swift for the seam). Each call
// is bounded (a batch), so a prune never holds the writer (or row locks) for long.

/// A message as retention sees it: enough to decide whether it expired and to move
/// its room's history floor.
public struct MessageAge: Sendable {
    public let id: MessageID
    public let room: RoomID
    public let seq: Int64
    public let sentAt: Int64

    public init(id: MessageID, room: RoomID, seq: Int64, sentAt: Int64) {
        self.id = id
        self.room = room
        self.seq = seq
        self.sentAt = sentAt
    }
}

public protocol RetentionWrites {
    /// Whether this unit may prune: false while another node's unit is pruning (a
    /// backend serving several nodes holds a lock until its commit), so the rounds of
    /// several nodes never do the same work twice. A single writer always may.
    func claimPruneRound() throws -> Bool

    /// Up to `limit` users with an id above `after`, in id order (a round-robin over
    /// the user table).
    func usersInIDOrder(after: UserID, limit: Int) throws -> [UserID]

    /// Among the user's `scan` oldest inbox rows (lowest seqs), the highest seq of those
    /// created before `cutoff`, or nil if none is.
    func inboxPruneBoundary(user: UserID, scan: Int, createdBefore cutoff: Int64) throws -> Int64?

    /// Deletes the user's inbox rows with seq <= `through` and raises the user's inbox
    /// floor to `through` (never lowers it), so a cursor below it is expired. Returns how
    /// many rows were deleted.
    func pruneInbox(user: UserID, through: Int64) throws -> Int

    /// The `limit` oldest messages (lowest ids, i.e. commit order).
    func oldestMessages(limit: Int) throws -> [MessageAge]

    /// Deletes every message with id <= `through`. Returns how many.
    func deleteMessages(through: MessageID) throws -> Int

    /// Deletes the queued pushes of messages with id <= `through`.
    func deletePushes(forMessagesThrough: MessageID) throws

    /// Raises the room's history floor to `seq` (never lowers it), and deletes the
    /// reactions (and reaction marks) of the room's messages up to there.
    func raiseHistoryFloor(room: RoomID, to seq: Int64) throws

    /// Deletes the `message` inbox events of `room` with room seq <= `through`.
    func deleteMessageEvents(room: RoomID, through: Int64) throws
}
