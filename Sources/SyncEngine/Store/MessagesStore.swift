// Messages, history and idempotent sends (see Store.swift for the seam).

/// A room as a send sees it before it takes a seq.
public struct SendTarget: Sendable {
    public let room: RoomID
    /// Read diffusion (no inbox rows, no pushes).
    public let hot: Bool
    /// `last_seq` as the lookup read it. The domain never derives a seq from it (the
    /// store assigns seqs, see `appendMessage`); a backend whose writes are serialized
    /// (SQLite's single writer) may, because nothing can move it before the append.
    public let lastSeq: Int64

    public init(room: RoomID, hot: Bool, lastSeq: Int64) {
        self.room = room
        self.hot = hot
        self.lastSeq = lastSeq
    }
}

/// A member of a normal room as a send reads it: once for the membership check and
/// for the fan-out.
public struct SendMember: Sendable {
    public let user: UserID
    /// users.inbox_seq (the fan-out's starting point).
    public let inboxSeq: Int64
    public let joinedSeq: Int64
    public let readSeq: Int64
    public let role: String

    public init(user: UserID, inboxSeq: Int64, joinedSeq: Int64, readSeq: Int64, role: String) {
        self.user = user
        self.inboxSeq = inboxSeq
        self.joinedSeq = joinedSeq
        self.readSeq = readSeq
        self.role = role
    }
}

/// What appending a message did.
public enum MessageAppend: Sendable {
    /// Stored at `seq`, the room's next seq.
    case appended(id: MessageID, seq: Int64)
    /// The sender already has a message with this client_msg_id (possibly committed by
    /// a concurrent send since the caller looked): nothing was written, no seq was
    /// taken, and this is that message.
    case duplicate(Message)
}

public protocol MessagesReads {
    /// The sender's message with this client_msg_id, in any room, or nil. There is at
    /// most one: (sender, client_msg_id) is unique in the store.
    func message(sender: UserID, clientMsgID: String) throws -> Message?

    /// A page of history: messages of `room` with `above < seq < below` (messages only,
    /// not change rows, each as it is now, rendered for `viewer`), newest first, at most
    /// `limit`, handed to `each` one at a time until it returns false.
    func messages(room: RoomID, below: Int64, above: Int64, limit: Int, viewer: UserID,
                  _ each: (Message) throws -> Bool) throws

    /// For each (room, above): the newest `count` messages (not change rows) of `room`
    /// with seq > `above`, newest first, rendered for `viewer`. All rooms in one read (a
    /// conversation page's previews); rooms without such messages are absent.
    func latestMessages(rooms: [(room: RoomID, above: Int64)], count: Int, viewer: UserID) throws -> [RoomID: [Message]]
}

extension MessagesReads {
    /// The newest `count` messages of `room` with seq > `above`, newest first.
    public func latestMessages(room: RoomID, above: Int64, count: Int, viewer: UserID) throws -> [Message] {
        try latestMessages(rooms: [(room, above)], count: count, viewer: viewer)[room] ?? []
    }
}

public protocol MessagesWrites {
    /// The room a send goes to, or nil if it does not exist.
    func sendTarget(room: RoomID) throws -> SendTarget?

    /// The current members of a normal room with their inbox positions and memberships,
    /// in one read (membership check and fan-out).
    func sendMembers(room: RoomID) throws -> [SendMember]

    /// Appends a message to `target.room` and moves the room's activity to `at`.
    ///
    /// Its seq is the room's `last_seq + 1`, assigned by the store under the room row's
    /// lock, held until the unit of work commits: on a backend with row locks, one
    /// `UPDATE rooms SET last_seq = last_seq + 1 ... RETURNING last_seq`, so concurrent
    /// senders get consecutive seqs (gapless, strictly increasing, one writer at a time
    /// per room). Never read-then-write outside that lock.
    ///
    /// Idempotency: (sender, client_msg_id) is unique in the store (a unique constraint,
    /// not a prior read). When the insert hits it, e.g. a concurrent send with the same
    /// key committed first, the store returns `.duplicate` with that message and leaves
    /// everything as it was before the call: the seq it took is given back (a backend
    /// with row locks runs the append in a savepoint, or uses `INSERT ... ON CONFLICT DO
    /// NOTHING` and undoes the counter under the lock it still holds).
    ///
    /// Message ids grow in commit order (see `commitPosition`).
    func appendMessage(to target: SendTarget, sender: UserID, device: DeviceID, clientMsgID: String,
                       body: String, at: Int64) throws -> MessageAppend

    /// A hot room: the sender's read marker moves up to `seq` (never back).
    func senderRead(room: RoomID, user: UserID, seq: Int64) throws

    /// A normal room: the sender's activity moves to `at` and their read marker up to
    /// `seq` (never back), in one update of their member row.
    func senderActiveAndRead(room: RoomID, user: UserID, seq: Int64, at: Int64) throws

    /// The commit position of this unit of work, stamped on non-message inbox events so
    /// a pull can interleave them with hot-room messages in commit order: comparable
    /// with message ids, and not below any message id committed before this unit of work
    /// or written in it so far. SQLite: the highest message id (ids are assigned in
    /// commit order by its single writer). A backend with several concurrent writers must
    /// provide the same order (e.g. a commit-ordered sequence taken under a lock that
    /// message inserts also take); the cursor's per-stream positions keep a pull exact
    /// whatever it is, this only orders rooms within a page.
    func commitPosition() throws -> Int64

    /// A send's whole data step, in one operation: what `Messages.send` stores, with the
    /// guarantees of the fine-grained operations it is made of (see the default
    /// implementation below, which every backend may keep): idempotent through the unique
    /// `(sender, client_msg_id)`; the room row's lock first, then the members read under
    /// it (a member who joined before the lock gets the message, one who joins after does
    /// not); the seq gapless under that lock; each member's inbox seq under the users row's
    /// lock, rows in id order. Nothing is written unless the outcome is `.appended`.
    func sendMessage(_ request: SendRequest) throws -> SendOutcome
}
