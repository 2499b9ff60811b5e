import SQLiteStore

/// Sending (idempotent, write-diffused) and history paging.
public enum Messages {
    static let columns = "m.id, m.room_id, m.seq, su.name, m.sender_device_id, m.client_msg_id, m.body, m.sent_at"

    /// Maps `columns` starting at `offset`.
    static func rowToMessage(_ row: Row, at offset: Int = 0) -> Message {
        Message(id: MessageID(row.int64(offset)), room: RoomID(row.int64(offset + 1)), seq: row.int64(offset + 2),
                sender: row.text(offset + 3), senderDevice: row.optionalInt64(offset + 4).map(DeviceID.init),
                clientMsgID: row.text(offset + 5), body: row.text(offset + 6), sentAt: row.int64(offset + 7))
    }

    /// One send, as one writer command. In this order, all in the caller's savepoint:
    /// idempotency check, membership, room seq + 1 (gapless), the message row, one inbox
    /// row per member (each member's inbox seq + 1), member activity, and the sender's
    /// read marker. The HTTP 201 goes out only after the batch commits.
    public static func send(_ ctx: WriteContext, me: Principal, room: RoomID, clientMsgID: String,
                            body: String, maxBodyBytes: Int) throws -> SendResult {
        guard Validation.isValidClientMsgID(clientMsgID) else {
            throw SyncError.invalid(field: "client_msg_id", reason: "1-64 printable ASCII characters")
        }
        guard body.utf8.count <= maxBodyBytes else { throw SyncError.bodyTooLarge(limit: maxBodyBytes) }

        // The same (sender, client_msg_id) is the same message, from any of the sender's devices.
        if let original = try ctx.db.queryOne("""
            SELECT \(columns) FROM messages m JOIN users su ON su.id = m.sender_id
            WHERE m.sender_id = ? AND m.client_msg_id = ?
            """, [.integer(me.user.rawValue), .text(clientMsgID)], { rowToMessage($0) }) {
            // Bytes, not String ==: Swift compares Strings by canonical equivalence, so a
            // different body (NFC vs NFD) would have been taken for the same message.
            guard original.room == room, original.body.utf8.elementsEqual(body.utf8) else {
                throw SyncError.idempotencyConflict
            }
            return SendResult(message: original, duplicate: true)
        }

        // Only single-row statements by key below (plus one indexed member read): no
        // RETURNING and no IN-subquery, whose ephemeral tables and statement journals
        // dominated the writer's time per send.
        guard let (lastSeq, hot) = try ctx.db.queryOne("SELECT last_seq, hot FROM rooms WHERE id = ?",
                                                       [.integer(room.rawValue)], { ($0.int64(0), $0.bool(1)) }) else {
            throw SyncError.roomNotFound
        }
        let membership: Rooms.Membership
        var recipients: [Inbox.Recipient] = []
        if hot {
            membership = try Rooms.requireMember(ctx.db, room: room, user: me.user)
        } else {
            // A normal room's members are read once: membership check and fan-out.
            var mine: Rooms.Membership?
            try ctx.db.query("""
                SELECT m.user_id, u.inbox_seq, m.joined_seq, m.read_seq, m.role
                FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?
                """, [.integer(room.rawValue)]) { row in
                let user = UserID(row.int64(0))
                recipients.append(Inbox.Recipient(user: user, inboxSeq: row.int64(1)))
                if user == me.user { mine = Rooms.Membership(joinedSeq: row.int64(2), readSeq: row.int64(3), role: row.text(4)) }
            }
            guard let mine else { throw SyncError.notMember }
            membership = mine
        }
        let seq = lastSeq + 1
        try ctx.db.run("UPDATE rooms SET last_seq = ?1, last_active_at = ?2 WHERE id = ?3",
                       [.integer(seq), .integer(ctx.now), .integer(room.rawValue)])
        try ctx.db.run("""
            INSERT INTO messages (room_id, seq, sender_id, sender_device_id, client_msg_id, body, sent_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [.integer(room.rawValue), .integer(seq), .integer(me.user.rawValue), .integer(me.device.rawValue),
                  .text(clientMsgID), .text(body), .integer(ctx.now)])
        let id = MessageID(ctx.db.lastInsertRowID)
        ctx.messageInserted(id.rawValue)
        if hot {
            // Read diffusion: stored once; members' pulls merge the room in, and only
            // members with a parked pull or an open socket are woken.
            ctx.wakeRoom(room, at: seq)
            try ctx.db.run("UPDATE members SET read_seq = ?1 WHERE room_id = ?2 AND user_id = ?3 AND read_seq < ?1",
                           [.integer(seq), .integer(room.rawValue), .integer(me.user.rawValue)])
        } else {
            try Inbox.appendToMembers(ctx, room: room, kind: .message, roomSeq: seq, payload: nil, recipients: recipients)
            // Activity for everyone, once per room per batch (RoomActivity); the sender's
            // own read marker moves to their message now.
            ctx.roomActive(room)
            try ctx.db.run("UPDATE members SET last_active_at = ?1, read_seq = max(read_seq, ?2) WHERE room_id = ?3 AND user_id = ?4",
                           [.integer(ctx.now), .integer(seq), .integer(room.rawValue), .integer(me.user.rawValue)])
            try PushOutbox.enqueue(ctx, room: room, message: id, sender: me.user, members: recipients.map(\.user))
        }
        // Sending reads what came before: the senders of those messages see new counts.
        // Not in hot rooms, where the messages since the sender's last one may come from
        // dozens of senders: there only explicit reads (POST /read) announce receipts.
        if !hot && membership.readSeq < seq - 1 {
            try Receipts.readerMoved(ctx, room: room, reader: me.user, from: membership.readSeq, to: seq - 1)
        }
        let message = Message(id: id, room: room, seq: seq, sender: me.userName, senderDevice: me.device,
                              clientMsgID: clientMsgID, body: body, sentAt: ctx.now)
        return SendResult(message: message, duplicate: false)
    }

    /// About what a message adds to a page's JSON (see `EngineConfiguration.maxPageBytes`):
    /// its body (stored as the JSON text it is sent as), sender and client_msg_id, plus a
    /// fixed allowance for keys, ids and the timestamp.
    static func estimatedBytes(_ m: Message) -> Int {
        160 + m.body.utf8.count + m.sender.utf8.count + m.clientMsgID.utf8.count
    }

    /// A page of history, newest first in the query and returned oldest first, strictly
    /// below `before` and never below the caller's join point. At most `limit` messages
    /// and about `maxPageBytes` of them (at least one): a page cut short still has a
    /// `nextBefore`, its oldest message's seq.
    public static func history(_ ctx: ReadContext, me: UserID, room: RoomID, before: Int64?, limit: Int) throws -> HistoryPage {
        let membership = try Rooms.requireMember(ctx.db, room: room, user: me)
        let upper = before ?? Int64.max
        var rows: [Message] = []
        var hasMore = false
        var bytes = 0
        try ctx.db.query("""
            SELECT \(columns) FROM messages m JOIN users su ON su.id = m.sender_id
            WHERE m.room_id = ? AND m.seq < ? AND m.seq > ? ORDER BY m.seq DESC LIMIT ?
            """, [.integer(room.rawValue), .integer(upper), .integer(membership.joinedSeq), .integer(Int64(limit + 1))]) {
            guard !hasMore else { return }
            let m = rowToMessage($0)
            let size = estimatedBytes(m)
            if rows.count == limit || (!rows.isEmpty && bytes + size > ctx.config.maxPageBytes) {
                hasMore = true
                return
            }
            rows.append(m)
            bytes += size
        }
        rows.reverse()
        return HistoryPage(messages: rows, nextBefore: hasMore ? rows.first?.seq : nil)
    }

    /// The newest `count` messages of a room visible to a member who joined at `joinedSeq`.
    static func latest(_ db: any StoreReader, room: RoomID, joinedSeq: Int64, count: Int) throws -> [Message] {
        guard count > 0 else { return [] }
        let rows = try db.queryAll("""
            SELECT \(columns) FROM messages m JOIN users su ON su.id = m.sender_id
            WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq DESC LIMIT ?
            """, [.integer(room.rawValue), .integer(joinedSeq), .integer(Int64(count))]) { rowToMessage($0) }
        return rows.reversed()
    }
}
