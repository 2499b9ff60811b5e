import SyncEngine

/// The columns of a message as it is now with its sender's name (`messages m JOIN users
/// su`), and their mapping. Shared by the areas that return messages. `viewer` is the SQL
/// of the reader's user id (a parameter or a column), for `me` in the reactions.
enum MessageRows {
    static func columns(viewer: String) -> String {
        """
        m.id, m.room_id, m.seq, su.name, m.sender_device_id, m.client_msg_id, m.body, m.sent_at,
        m.edited_at, m.edit_count, m.deleted_at, m.version, m.reactions,
        CASE WHEN m.reactions IS NULL THEN NULL ELSE
            (SELECT string_agg(rx.key, chr(30)) FROM reactions rx
             WHERE rx.room_id = m.room_id AND rx.seq = m.seq AND rx.user_id = \(viewer)) END
        """
    }

    /// How many columns `columns` has.
    static let count = 14

    /// Maps `columns` starting at `offset`; with `change`, the column of a change row's
    /// kind, followed by its seq (a message row's kind is 'message': no change).
    static func message(_ row: PGRow, at offset: Int = 0, change: Int? = nil) -> Message {
        var m = Message(id: MessageID(row.int64(offset)), room: RoomID(row.int64(offset + 1)), seq: row.int64(offset + 2),
                        sender: row.text(offset + 3), senderDevice: row.optionalInt64(offset + 4).map(DeviceID.init),
                        clientMsgID: row.text(offset + 5), body: row.text(offset + 6), sentAt: row.int64(offset + 7),
                        editedAt: row.optionalInt64(offset + 8), editCount: row.int(offset + 9),
                        deletedAt: row.optionalInt64(offset + 10), version: row.int(offset + 11),
                        reactions: ReactionCounts.decode(row.optionalText(offset + 12), mine: row.optionalText(offset + 13)))
        if let c = change, let kind = MessageChange.Kind(rawValue: row.text(c)) {
            m.change = MessageChange(kind: kind, seq: row.int64(c + 1))
        }
        return m
    }
}

extension PGReader: MessagesReads {
    public func message(sender: UserID, clientMsgID: String) throws -> Message? {
        try pg.queryOne("""
            SELECT \(MessageRows.columns(viewer: "$1")) FROM messages m JOIN users su ON su.id = m.sender_id
            WHERE m.sender_id = $1 AND m.client_msg_id = $2
            """, [.int(sender.rawValue), .text(clientMsgID)]) { MessageRows.message($0) }
    }

    public func messages(room: RoomID, below: Int64, above: Int64, limit: Int, viewer: UserID,
                         _ each: (Message) throws -> Bool) throws {
        var more = true
        try pg.query("""
            SELECT \(MessageRows.columns(viewer: "$5")) FROM messages m JOIN users su ON su.id = m.sender_id
            WHERE m.room_id = $1 AND m.seq < $2 AND m.seq > $3 AND m.kind = 'message' ORDER BY m.seq DESC LIMIT $4
            """, [.int(room.rawValue), .int(below), .int(above), .int(Int64(limit)), .int(viewer.rawValue)]) {
            guard more else { return }
            more = try each(MessageRows.message($0))
        }
    }

    public func latestMessages(rooms: [(room: RoomID, above: Int64)], count: Int, viewer: UserID) throws -> [RoomID: [Message]] {
        guard !rooms.isEmpty, count > 0 else { return [:] }
        // All rooms in one statement: per room, its newest `count` from the (room_id, seq)
        // index, read backwards.
        var out: [RoomID: [Message]] = [:]
        try pg.query("""
            SELECT l.* FROM unnest($1::bigint[], $2::bigint[]) AS k(room, above)
            CROSS JOIN LATERAL (SELECT \(MessageRows.columns(viewer: "$4")) FROM messages m JOIN users su ON su.id = m.sender_id
                                WHERE m.room_id = k.room AND m.seq > k.above AND m.kind = 'message'
                                ORDER BY m.seq DESC LIMIT $3) l
            ORDER BY l.room_id, l.seq DESC
            """, [.int64Array(rooms.map(\.room.rawValue)), .int64Array(rooms.map(\.above)), .int(Int64(count)),
                  .int(viewer.rawValue)]) {
            let m = MessageRows.message($0)
            out[m.room, default: []].append(m)
        }
        return out
    }
}

// A send takes the room row's lock first (`sendTarget`: SELECT ... FOR NO KEY UPDATE), so the
// room's next seq is `last_seq + 1` until COMMIT, whatever other nodes do: two sends in
// one room commit in seq order, and a reader never sees seq n+1 without n.
extension PGWriter: MessagesWrites {
    public func sendTarget(room: RoomID) throws -> SendTarget? {
        var target: SendTarget?
        try lock("SELECT last_seq, hot FROM rooms WHERE id = $1 FOR NO KEY UPDATE", [.int(room.rawValue)]) {
            target = SendTarget(room: room, hot: $0.bool(1), lastSeq: $0.int64(0))
        }
        return target
    }

    public func sendMembers(room: RoomID) throws -> [SendMember] {
        try pg.queryAll("""
            SELECT m.user_id, u.inbox_seq, m.joined_seq, m.read_seq, m.role
            FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = $1
            """, [.int(room.rawValue)]) {
            SendMember(user: UserID($0.int64(0)), inboxSeq: $0.int64(1), joinedSeq: $0.int64(2), readSeq: $0.int64(3),
                       role: $0.text(4))
        }
    }

    public func appendMessage(to target: SendTarget, sender: UserID, device: DeviceID, clientMsgID: String,
                              body: String, at: Int64) throws -> MessageAppend {
        let seq = target.lastSeq + 1
        var id: Int64?
        // A concurrent send with the same key (another node) makes this wait for its
        // commit, then find it: exactly one message per (sender, client_msg_id). The
        // room's counter moves only with an inserted message (one round trip for both).
        try write("""
            WITH m AS (INSERT INTO messages (room_id, seq, sender_id, sender_device_id, client_msg_id, body, sent_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sender_id, client_msg_id) DO NOTHING RETURNING id),
                 r AS (UPDATE rooms SET last_seq = $2, last_active_at = greatest(last_active_at, $7)
                       WHERE id = $1 AND EXISTS (SELECT 1 FROM m))
            SELECT id FROM m
            """, [.int(target.room.rawValue), .int(seq), .int(sender.rawValue), .int(device.rawValue),
                  .text(clientMsgID), .text(body), .int(at)]) { id = $0.int64(0) }
        guard let id else {
            guard let original = try message(sender: sender, clientMsgID: clientMsgID) else { throw SyncError.unexpected("the message whose key was taken is not there") }
            return .duplicate(original)
        }
        return .appended(id: MessageID(id), seq: seq)
    }

    public func senderRead(room: RoomID, user: UserID, seq: Int64) throws {
        try write("UPDATE members SET read_seq = $1 WHERE room_id = $2 AND user_id = $3 AND read_seq < $1",
                  [.int(seq), .int(room.rawValue), .int(user.rawValue)])
    }

    public func senderActiveAndRead(room: RoomID, user: UserID, seq: Int64, at: Int64) throws {
        try write("""
            UPDATE members SET last_active_at = greatest(last_active_at, $1), read_seq = greatest(read_seq, $2)
            WHERE room_id = $3 AND user_id = $4
            """, [.int(at), .int(seq), .int(room.rawValue), .int(user.rawValue)])
    }

    /// The whole send in one round trip: `ph_send` (migrations/postgres/0008_write_functions.sql)
    /// runs the default implementation's steps server-side, in the same order and under the
    /// same locks; each of its statements takes a fresh snapshot, so the members are read
    /// as of the room lock. It changes rows only when it appends (a duplicate or a refusal
    /// leaves at most the room lock, held to the commit).
    public func sendMessage(_ r: SendRequest) throws -> SendOutcome {
        try willLock()
        var outcome: SendOutcome?
        let send: [PGValue] = [.int(r.room.rawValue), .int(r.sender.rawValue), .int(r.device.rawValue), .text(r.clientMsgID),
                               .text(r.body), .int(r.at), .int(r.receiptsDueBy)]
        // With the device's cluster-wide send bucket: taken in the same call (0010_rate_buckets.sql).
        let (sql, params): (String, [PGValue])
        if let b = r.bucket, b.ratePerSecond > 0 {
            sql = SendBatches.limitedSend
            params = [.text(b.key), .double(b.ratePerSecond), .double(b.burst)] + send
        } else {
            (sql, params) = (SendBatches.send, send)
        }
        try pg.query(sql, params) { row in
            switch row.text(0) {
            case "appended":
                let users = row.int64Array(11), seqs = row.int64Array(12)
                let receiptUsers = row.int64Array(13), receiptSeqs = row.int64Array(14)
                let receipts = receiptUsers.isEmpty && !row.bool(15) ? ReceiptsEmitted.none : ReceiptsEmitted(
                    marked: true, events: zip(receiptUsers, receiptSeqs).map { InboxAppend(user: UserID($0), seq: $1) },
                    pending: row.bool(15))
                outcome = .appended(SentMessage(
                    id: MessageID(row.int64(1)), seq: row.int64(3), hot: row.bool(9),
                    recipients: zip(users, seqs).map { InboxAppend(user: UserID($0), seq: $1) },
                    readBefore: row.int64(10), receipts: receipts))
            // The original as the function returns it: its first columns, the body as it
            // is now (a resend after an edit or a recall differs from it: 409, and no
            // second statement, which would make every send a pipeline barrier).
            case "duplicate": outcome = .duplicate(Message(
                id: MessageID(row.int64(1)), room: RoomID(row.int64(2)), seq: row.int64(3), sender: row.text(4),
                senderDevice: row.optionalInt64(5).map(DeviceID.init), clientMsgID: row.text(6), body: row.text(7),
                sentAt: row.int64(8)))
            case "no_room": outcome = .roomNotFound
            // Only from a run of sends merged into one call (SendBatches.swift): its room was
            // held by another writer; nothing written, it goes to the next batch.
            case "busy": throw PGError(sqlState: "55P03", message: "the room is held by another writer", connectionLost: false)
            case "not_member": outcome = .notMember
            case "rate_limited": outcome = .rateLimited(retryAfterMillis: row.int(1))
            default: break
            }
        }
        guard let outcome else { throw SyncError.unexpected("a server-side function answered no known status") }
        if case .appended = outcome { didWrite() }
        return outcome
    }

    public func commitPosition() throws -> Int64 {
        // Message ids come from one sequence: the last one handed out on any node.
        try pg.queryOne("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_id_seq") { $0.int64(0) } ?? 0
    }
}
