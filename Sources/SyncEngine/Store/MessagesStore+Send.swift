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
        if recipients.count != members.count { throw SyncError.unexpected("the fan-out wrote another number of inbox rows than members") }
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
