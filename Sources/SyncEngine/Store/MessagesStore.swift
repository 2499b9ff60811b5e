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

    /// A page of history: messages of `room` with `above < seq < below`, newest first,
    /// at most `limit`, handed to `each` one at a time until it returns false.
    func messages(room: RoomID, below: Int64, above: Int64, limit: Int, _ each: (Message) throws -> Bool) throws

    /// For each (room, above): the newest `count` messages of `room` with seq > `above`,
    /// newest first. All rooms in one read (a conversation page's previews); rooms
    /// without such messages are absent from the result.
    func latestMessages(rooms: [(room: RoomID, above: Int64)], count: Int) throws -> [RoomID: [Message]]
}

extension MessagesReads {
    /// The newest `count` messages of `room` with seq > `above`, newest first.
    public func latestMessages(room: RoomID, above: Int64, count: Int) throws -> [Message] {
        try latestMessages(rooms: [(room, above)], count: count)[room] ?? []
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

// MARK: - A send's data step in one operation

/// One send as the store runs it (`MessagesWrites.sendMessage`). Validation (key, body
/// size) is the domain's, before.
public struct SendRequest: Sendable {
    public let room: RoomID
    public let sender: UserID
    public let device: DeviceID
    public let clientMsgID: String
    public let body: String
    /// The unit's clock: `sent_at`, activity, inbox `created_at`, receipts emitted.
    public let at: Int64
    /// Receipt marks last emitted at or before this are due (now minus the receipts window).
    public let receiptsDueBy: Int64
    /// The device's send bucket shared by the cluster, taken first (`RateBuckets`).
    public let bucket: RateBucket?

    public init(room: RoomID, sender: UserID, device: DeviceID, clientMsgID: String, body: String, at: Int64,
                receiptsDueBy: Int64, bucket: RateBucket? = nil) {
        self.bucket = bucket
        self.room = room
        self.sender = sender
        self.device = device
        self.clientMsgID = clientMsgID
        self.body = body
        self.at = at
        self.receiptsDueBy = receiptsDueBy
    }
}

/// `receipts` events written because a reader's marker moved (`Receipts.readerMoved`).
public struct ReceiptsEmitted: Sendable {
    /// Whether any (room, sender) was marked pending.
    public var marked: Bool
    /// The `receipts` inbox rows written: (sender of the read messages, inbox seq).
    public var events: [InboxAppend]
    /// Marks are still pending somewhere (inside their window): the periodic flush has work.
    public var pending: Bool

    public init(marked: Bool = false, events: [InboxAppend] = [], pending: Bool = false) {
        self.marked = marked
        self.events = events
        self.pending = pending
    }

    public static let none = ReceiptsEmitted()
}

/// What a send stored.
public struct SentMessage: Sendable {
    public let id: MessageID
    public let seq: Int64
    /// Read diffusion: no inbox rows, no pushes, no receipts from the send.
    public let hot: Bool
    /// A normal room: the members, each with the inbox seq of the message's row.
    public let recipients: [InboxAppend]
    /// The sender's read marker before the send.
    public let readBefore: Int64
    /// A normal room whose sender's marker jumped over others' messages.
    public let receipts: ReceiptsEmitted

    public init(id: MessageID, seq: Int64, hot: Bool, recipients: [InboxAppend], readBefore: Int64,
                receipts: ReceiptsEmitted) {
        self.id = id
        self.seq = seq
        self.hot = hot
        self.recipients = recipients
        self.readBefore = readBefore
        self.receipts = receipts
    }
}

public enum SendOutcome: Sendable {
    case appended(SentMessage)
    /// The sender's message with this client_msg_id (in any room, any body): nothing written.
    case duplicate(Message)
    case roomNotFound
    case notMember
    /// The request's bucket (`SendRequest.bucket`) had no token: nothing written.
    case rateLimited(retryAfterMillis: Int)
}

extension MessagesWrites where Self: StoreWriter {
    /// A send's whole data step (`MessagesWrites.sendMessage`), composed of the
    /// fine-grained operations in the order and under the locks their contracts give:
    /// idempotency look-up; the room row's lock (`sendTarget`); the members read after it
    /// (membership and fan-out); the message at the room's next seq (`appendMessage`,
    /// which still catches a concurrent duplicate); for a normal room one inbox row per
    /// member (`appendToMembers`, users rows in id order), the sender's activity and read
    /// marker, and the receipts of the messages the sender's marker jumped over; for a hot
    /// room the sender's read marker. The SQLite backend runs this (each step is a call
    /// into the same process); a backend across a network may do it in one round trip.
    public func sendMessage(_ r: SendRequest) throws -> SendOutcome {
        if let bucket = r.bucket, bucket.ratePerSecond > 0 {
            let wait = try takeTokens(bucket, cost: 1, at: r.at, debt: false)
            if wait > 0 { return .rateLimited(retryAfterMillis: wait) }
        }
        if let original = try message(sender: r.sender, clientMsgID: r.clientMsgID) { return .duplicate(original) }
        guard let target = try sendTarget(room: r.room) else { return .roomNotFound }
        var members: [SendMember] = []
        let readBefore: Int64
        if target.hot {
            guard let mine = try membership(room: r.room, user: r.sender) else { return .notMember }
            readBefore = mine.readSeq
        } else {
            members = try sendMembers(room: r.room)
            guard let mine = members.first(where: { $0.user == r.sender }) else { return .notMember }
            readBefore = mine.readSeq
        }
        let id: MessageID, seq: Int64
        switch try appendMessage(to: target, sender: r.sender, device: r.device, clientMsgID: r.clientMsgID,
                                 body: r.body, at: r.at) {
        case .appended(let newID, let newSeq): (id, seq) = (newID, newSeq)
        case .duplicate(let original): return .duplicate(original)
        }
        if target.hot {
            try senderRead(room: r.room, user: r.sender, seq: seq)
            return .appended(SentMessage(id: id, seq: seq, hot: true, recipients: [], readBefore: readBefore,
                                         receipts: .none))
        }
        let entry = InboxEntry(kind: .message, room: r.room, roomSeq: seq, payload: nil, createdAt: r.at,
                               position: id.rawValue)
        let recipients = try appendToMembers(room: r.room, entry, recipients: members.map {
            InboxRecipient(user: $0.user, inboxSeq: $0.inboxSeq)
        })
        if recipients.count != members.count { throw SyncError.storageUnavailable }
        try senderActiveAndRead(room: r.room, user: r.sender, seq: seq, at: r.at)
        var receipts = ReceiptsEmitted.none
        if readBefore < seq - 1 {
            receipts = try Receipts.markAndEmit(self, room: r.room, reader: r.sender, from: readBefore, to: seq - 1,
                                                dueBy: r.receiptsDueBy, at: r.at) { id.rawValue }
        }
        return .appended(SentMessage(id: id, seq: seq, hot: false, recipients: recipients, readBefore: readBefore,
                                     receipts: receipts))
    }
}
