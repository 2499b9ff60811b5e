/// Sending (idempotent, write-diffused) and history paging.
public enum Messages {
    /// One send, as one writer command. Its data step is one store operation
    /// (`MessagesWrites.sendMessage`: idempotency look-up, the room's lock, membership,
    /// the message at the room's next seq (gapless, assigned by the store), one inbox row
    /// per member (each member's inbox seq + 1), the sender's activity and read marker,
    /// and the receipts of what the sender's marker jumped over), so a backend across a
    /// network runs it in one round trip. The decisions stay here: the 409 on a reused key,
    /// the wake-ups, member activity per batch, offline pushes. The HTTP 201 goes out only
    /// after the batch commits.
    public static func send(_ ctx: WriteContext, me: Principal, room: RoomID, clientMsgID: String,
                            body: String, maxBodyBytes: Int, bucket: RateBucket? = nil) throws -> SendResult {
        guard Validation.isValidClientMsgID(clientMsgID) else {
            throw SyncError.invalid(field: "client_msg_id", reason: "1-64 printable ASCII characters")
        }
        guard body.utf8.count <= maxBodyBytes else { throw SyncError.bodyTooLarge(limit: maxBodyBytes) }

        // The same (sender, client_msg_id) is the same message, from any of the sender's
        // devices, also when a concurrent send with the same key committed first (the
        // store's unique key answers it the same way).
        let request = SendRequest(room: room, sender: me.user, device: me.device, clientMsgID: clientMsgID, body: body,
                                  at: ctx.now, receiptsDueBy: ctx.now - ctx.config.receiptsWindowMillis, bucket: bucket)
        let sent: SentMessage
        switch try ctx.store.sendMessage(request) {
        case .appended(let s): sent = s
        case .duplicate(let original): return try resent(original, room: room, body: body)
        case .roomNotFound: throw SyncError.roomNotFound
        case .notMember: throw SyncError.notMember
        case .rateLimited(let ms): throw SyncError.rateLimited(retryAfterMillis: ms, what: bucket?.what ?? "messages")
        }
        ctx.messageInserted(sent.id.rawValue)
        let message = Message(id: sent.id, room: room, seq: sent.seq, sender: me.userName, senderDevice: me.device,
                              clientMsgID: clientMsgID, body: body, sentAt: ctx.now)
        // The wake-ups carry the message: a pull or socket one row behind needs no read.
        if sent.hot {
            // Read diffusion: stored once; members' pulls merge the room in, and only
            // members with a parked pull or an open socket are woken.
            ctx.wakeRoom(room, at: sent.seq, message: message)
        } else {
            ctx.wake(sent.recipients, message: message)
            ctx.inboxRows += sent.recipients.count
            // Activity for everyone, once per room per batch (RoomActivity); the sender's
            // own moved with the message.
            ctx.roomActive(room)
            try PushOutbox.enqueue(ctx, room: room, message: sent.id, sender: me.user, members: sent.recipients.map(\.user))
            // Sending reads what came before: the senders of those messages see new
            // counts. Not in hot rooms, where the messages since the sender's last one may
            // come from dozens of senders: there only explicit reads (POST /read) announce
            // receipts.
            Receipts.applied(ctx, room: room, sent.receipts)
        }
        return SendResult(message: message, duplicate: false)
    }

    /// A send whose (sender, client_msg_id) already names `original`: the same message
    /// again, or 409 if the key is reused for another room or body.
    private static func resent(_ original: Message, room: RoomID, body: String) throws -> SendResult {
        // Bytes, not String ==: Swift compares Strings by canonical equivalence, so a
        // different body (NFC vs NFD) would have been taken for the same message.
        guard original.room == room, original.body.utf8.elementsEqual(body.utf8) else {
            throw SyncError.idempotencyConflict
        }
        return SendResult(message: original, duplicate: true)
    }

    /// About what a message adds to a page's JSON (see `EngineConfiguration.maxPageBytes`):
    /// its body (stored as the JSON text it is sent as), sender and client_msg_id, plus a
    /// fixed allowance for keys, ids and the timestamps, and its reactions.
    static func estimatedBytes(_ m: Message) -> Int {
        160 + m.body.utf8.count + m.sender.utf8.count + m.clientMsgID.utf8.count
            + (m.editedAt == nil ? 0 : 60) + m.reactions.reduce(0) { $0 + 40 + $1.key.utf8.count }
    }

    /// A page of history, newest first in the query and returned oldest first, strictly
    /// below `before` and never below the caller's join point. At most `limit` messages
    /// and about `maxPageBytes` of them (at least one): a page cut short still has a
    /// `nextBefore`, its oldest message's seq.
    public static func history(_ ctx: ReadContext, me: UserID, room: RoomID, before: Int64?, limit: Int) throws -> HistoryPage {
        let membership = try Rooms.requireMember(ctx.store, room: room, user: me)
        let upper = before ?? Int64.max
        var rows: [Message] = []
        var hasMore = false
        var bytes = 0
        try ctx.store.messages(room: room, below: upper, above: membership.joinedSeq, limit: limit + 1, viewer: me) { m in
            let size = estimatedBytes(m)
            if rows.count == limit || (!rows.isEmpty && bytes + size > ctx.config.maxPageBytes) {
                hasMore = true
                return false
            }
            rows.append(m)
            bytes += size
            return true
        }
        rows.reverse()
        return HistoryPage(messages: rows, nextBefore: hasMore ? rows.first?.seq : nil)
    }

    /// For each (room, joined seq): the newest `count` messages of the room visible to a
    /// member who joined at that seq, oldest first. All rooms in one read.
    static func latest(_ db: any StoreReader, rooms: [(RoomID, joinedSeq: Int64)], count: Int, viewer: UserID) throws -> [RoomID: [Message]] {
        guard count > 0, !rooms.isEmpty else { return [:] }
        return try db.latestMessages(rooms: rooms.map { (room: $0.0, above: $0.joinedSeq) }, count: count, viewer: viewer)
            .mapValues { $0.reversed() }
    }
}
