import SyncEngine
import SQLiteStore

/// The columns of a message as it is now with its sender's name (`messages m JOIN users
/// su`), and their mapping. Shared by the SQLite store's areas that return messages.
/// `viewer` is the SQL of the reader's user id (a parameter), for `me` in the reactions.
enum MessageRows {
    static func columns(viewer: String) -> String {
        """
        m.id, m.room_id, m.seq, su.name, m.sender_device_id, m.client_msg_id, m.body, m.sent_at,
        m.edited_at, m.edit_count, m.deleted_at, m.version, m.reactions,
        CASE WHEN m.reactions IS NULL THEN NULL ELSE
            (SELECT group_concat(rx.key, char(30)) FROM reactions rx
             WHERE rx.room_id = m.room_id AND rx.seq = m.seq AND rx.user_id = \(viewer)) END
        """
    }

    /// How many columns `columns` has.
    static let count = 14

    /// Maps `columns` starting at `offset`.
    static func message(_ row: Row, at offset: Int = 0) -> Message {
        Message(id: MessageID(row.int64(offset)), room: RoomID(row.int64(offset + 1)), seq: row.int64(offset + 2),
                sender: row.text(offset + 3), senderDevice: row.optionalInt64(offset + 4).map(DeviceID.init),
                clientMsgID: row.text(offset + 5), body: row.text(offset + 6), sentAt: row.int64(offset + 7),
                editedAt: row.optionalInt64(offset + 8), editCount: row.int(offset + 9),
                deletedAt: row.optionalInt64(offset + 10), version: row.int(offset + 11),
                reactions: ReactionCounts.decode(row.optionalText(offset + 12), mine: row.optionalText(offset + 13)))
    }
}

extension SQLiteReader: MessagesReads {
    public func message(sender: UserID, clientMsgID: String) throws -> Message? {
        try sqlite.queryOne(SQL.bySenderKey, [.integer(sender.rawValue), .text(clientMsgID)], { MessageRows.message($0) })
    }

    public func messages(room: RoomID, below: Int64, above: Int64, limit: Int, viewer: UserID,
                         _ each: (Message) throws -> Bool) throws {
        try sqlite.queryWhile(SQL.history, [.integer(room.rawValue), .integer(below), .integer(above), .integer(Int64(limit)),
                                             .integer(viewer.rawValue)]) {
            try each(MessageRows.message($0))
        }
    }

    public func latestMessages(rooms: [(room: RoomID, above: Int64)], count: Int, viewer: UserID) throws -> [RoomID: [Message]] {
        // One prepared statement per room, in the snapshot's transaction: in-process, no
        // round trips, each an index range read backwards (see SQLite+Stream.swift). One
        // statement for all rooms was measured slower, both as the rooms in a `json_each`
        // array with a scalar subquery per room for where its newest `count` begin (370
        // against 320 µs of server CPU per first screen of 20 rooms) and as a UNION ALL of
        // one LIMITed SELECT per room (340 against 292 µs).
        var out: [RoomID: [Message]] = [:]
        guard count > 0 else { return out }
        for (room, above) in rooms {
            let rows = try sqlite.queryAll(SQL.latest, [.integer(room.rawValue), .integer(above), .integer(Int64(count)),
                                                        .integer(viewer.rawValue)]) {
                MessageRows.message($0)
            }
            if !rows.isEmpty { out[room] = rows }
        }
        return out
    }
}

/// The reads' statements, built once (a statement is looked up by its text on every read).
private enum SQL {
    /// A message by its sender's idempotency key.
    static let bySenderKey = """
        SELECT \(MessageRows.columns(viewer: "?1")) FROM messages m JOIN users su ON su.id = m.sender_id
        WHERE m.sender_id = ?1 AND m.client_msg_id = ?2
        """
    /// A page of history: messages between two seqs, newest first.
    static let history = """
        SELECT \(MessageRows.columns(viewer: "?5")) FROM messages m JOIN users su ON su.id = m.sender_id
        WHERE m.room_id = ?1 AND m.seq < ?2 AND m.seq > ?3 AND m.kind = 'message' ORDER BY m.seq DESC LIMIT ?4
        """
    /// A room's newest messages above a seq, newest first (`latestMessages`).
    static let latest = """
        SELECT \(MessageRows.columns(viewer: "?4")) FROM messages m JOIN users su ON su.id = m.sender_id
        WHERE m.room_id = ?1 AND m.seq > ?2 AND m.kind = 'message' ORDER BY m.seq DESC LIMIT ?3
        """
}

// A send: only single-row statements by key (plus one indexed member read): no
// RETURNING and no IN-subquery, whose ephemeral tables and statement journals
// dominated the writer's time per send. The room's seq is therefore read by
// `sendTarget` and written by `appendMessage` as two statements, which is the
// "under the room row's lock" of `MessagesWrites.appendMessage` here: the single
// writer's transaction holds the whole database from the read to COMMIT.
extension SQLiteWriter: MessagesWrites {
    public func sendTarget(room: RoomID) throws -> SendTarget? {
        try sqlite.queryOne("SELECT last_seq, hot FROM rooms WHERE id = ?", [.integer(room.rawValue)]) {
            SendTarget(room: room, hot: $0.bool(1), lastSeq: $0.int64(0))
        }
    }

    public func sendMembers(room: RoomID) throws -> [SendMember] {
        try sqlite.queryAll("""
            SELECT m.user_id, u.inbox_seq, m.joined_seq, m.read_seq, m.role
            FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?
            """, [.integer(room.rawValue)]) {
            SendMember(user: UserID($0.int64(0)), inboxSeq: $0.int64(1), joinedSeq: $0.int64(2), readSeq: $0.int64(3),
                       role: $0.text(4))
        }
    }

    public func appendMessage(to target: SendTarget, sender: UserID, device: DeviceID, clientMsgID: String,
                              body: String, at: Int64) throws -> MessageAppend {
        let seq = target.lastSeq + 1
        // The message first: if (sender_id, client_msg_id) is taken, the INSERT fails
        // alone (a single-row INSERT changes nothing before its constraint check) and
        // the room's counter was not touched yet.
        do {
            try sqlite.run("""
                INSERT INTO messages (room_id, seq, sender_id, sender_device_id, client_msg_id, body, sent_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [.integer(target.room.rawValue), .integer(seq), .integer(sender.rawValue), .integer(device.rawValue),
                      .text(clientMsgID), .text(body), .integer(at)])
        } catch where error.isConstraintUnique {
            // Only (sender_id, client_msg_id) can collide: (room_id, seq) is the counter + 1
            // under the single writer. Otherwise the error stands.
            guard let original = try message(sender: sender, clientMsgID: clientMsgID) else { throw error }
            return .duplicate(original)
        }
        let id = MessageID(sqlite.lastInsertRowID)
        try sqlite.run("UPDATE rooms SET last_seq = ?1, last_active_at = ?2 WHERE id = ?3",
                       [.integer(seq), .integer(at), .integer(target.room.rawValue)])
        return .appended(id: id, seq: seq)
    }

    public func senderRead(room: RoomID, user: UserID, seq: Int64) throws {
        try sqlite.run("UPDATE members SET read_seq = ?1 WHERE room_id = ?2 AND user_id = ?3 AND read_seq < ?1",
                       [.integer(seq), .integer(room.rawValue), .integer(user.rawValue)])
    }

    public func senderActiveAndRead(room: RoomID, user: UserID, seq: Int64, at: Int64) throws {
        try sqlite.run("UPDATE members SET last_active_at = ?1, read_seq = max(read_seq, ?2) WHERE room_id = ?3 AND user_id = ?4",
                       [.integer(at), .integer(seq), .integer(room.rawValue), .integer(user.rawValue)])
    }

    public func commitPosition() throws -> Int64 {
        try sqlite.queryOne("SELECT coalesce(max(id), 0) FROM messages", [], { $0.int64(0) }) ?? 0
    }
}
