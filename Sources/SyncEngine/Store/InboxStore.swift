import JSON

// Write diffusion: events appended to users' inboxes.

/// One event to append to inboxes (the per-user part, user and seq, is the store's).
public struct InboxEntry {
    public let kind: EventKind
    public let room: RoomID?
    public let roomSeq: Int64?
    /// Extra fields of non-message events; nil for messages (a pull joins the message).
    public let payload: JSONValue?
    /// Creation time (the command's clock).
    public let createdAt: Int64
    /// The commit position (`WriteContext.position()`): interleaves inbox and hot-room
    /// events in a pull.
    public let position: Int64
}

/// A member of a room as a fan-out's caller read it in the same unit of work, with the
/// user's inbox seq as read then. A backend with a single writer may assign from that
/// seq (nothing else can have moved it); one with concurrent writers must not rely on it
/// and assigns under the user row's lock instead.
public struct InboxRecipient {
    public let user: UserID
    public let inboxSeq: Int64

    /// Memberwise (public: backends construct it).
    public init(user: UserID, inboxSeq: Int64) {
        self.user = user
        self.inboxSeq = inboxSeq
    }
}

/// One inbox row written: the user and the inbox seq assigned to it.
public struct InboxAppend: Sendable {
    public let user: UserID
    public let seq: Int64

    /// Memberwise (public: backends construct it).
    public init(user: UserID, seq: Int64) {
        self.user = user
        self.seq = seq
    }
}

public protocol InboxWrites {
    /// Appends `entry` to `user`'s inbox with the user's next inbox seq and returns that
    /// seq, or nil if there is no such user (then nothing is written). The seq is assigned
    /// by the store under the user row's lock (increment and read in one step), so a
    /// user's inbox seqs are strictly increasing and never shared, whatever runs
    /// concurrently. `entry.room` may be a room the user has left.
    func appendToInbox(user: UserID, _ entry: InboxEntry) throws -> Int64?

    /// Appends `entry` to the inbox of every current member of `room` (or of exactly
    /// `recipients`, the room's members as the caller read them in this unit of work),
    /// one row each with that member's next inbox seq, and returns the (user, seq) pairs
    /// written, one per row. Each seq is assigned by the store under its user row's lock
    /// (as in `appendToInbox`); a backend with row locks takes them in ascending user id
    /// order, so concurrent fan-outs into overlapping rooms cannot deadlock. The pairs
    /// are exactly the rows written (the caller wakes those users at those seqs): a
    /// backend that writes to the members it finds rather than to `recipients` fails the
    /// call if the two differ in number, rather than return pairs that do not match.
    func appendToMembers(room: RoomID, _ entry: InboxEntry, recipients: [InboxRecipient]?) throws -> [InboxAppend]
}
