import SyncEngine
import SQLiteStore

// Edits, recalls, reactions and erasures (MessageChangesStore.swift). The single writer
// serializes every unit, so "the row locked until the unit commits" is the writer's
// transaction; `secure_delete` (SQLiteSyncStore) zeroes what a recall frees.

extension SQLiteReader: MessageChangesReads {
    public func roomsWithReactionMarks(limit: Int) throws -> [RoomID] {
        try sqlite.queryAll("SELECT room_id FROM reaction_marks GROUP BY room_id ORDER BY min(since), room_id LIMIT ?", [.integer(Int64(limit))]) {
            RoomID($0.int64(0))
        }
    }

    public func erasuresPending() throws -> [UserID] {
        try sqlite.queryAll("SELECT user_id FROM erasures WHERE finished_at IS NULL ORDER BY user_id", []) {
            UserID($0.int64(0))
        }
    }

    public func erasure(user: UserID) throws -> ErasureProgress? {
        try sqlite.queryOne("""
            SELECT e.requested_at, e.finished_at, e.erased_messages,
                   (SELECT count(*) FROM messages m WHERE m.sender_id = e.user_id AND m.kind = 'message' AND m.deleted_at IS NULL),
                   (SELECT count(*) FROM reactions r WHERE r.user_id = e.user_id)
            FROM erasures e WHERE e.user_id = ?
            """, [.integer(user.rawValue)]) {
            ErasureProgress(requestedAt: $0.int64(0), finishedAt: $0.optionalInt64(1), messagesErased: $0.int64(2),
                            messagesLeft: $0.int64(3), reactionsLeft: $0.int64(4))
        }
    }
}

extension SQLiteWriter: MessageChangesWrites {
    public func messageForChange(room: RoomID, seq: Int64, viewer: UserID) throws -> ChangeTarget? {
        try sqlite.queryOne("""
            SELECT \(MessageRows.columns(viewer: "?3")), m.sender_id FROM messages m JOIN users su ON su.id = m.sender_id
            WHERE m.room_id = ?1 AND m.seq = ?2 AND m.kind = 'message'
            """, [.integer(room.rawValue), .integer(seq), .integer(viewer.rawValue)]) {
            ChangeTarget(message: MessageRows.message($0), sender: UserID($0.int64(MessageRows.count)),
                         storedReactions: $0.optionalText(12))
        }
    }

    public func editMessage(room: RoomID, seq: Int64, body: String, at: Int64) throws {
        try sqlite.run("""
            UPDATE messages SET body = ?3, edited_at = ?4, edit_count = edit_count + 1, version = version + 1
            WHERE room_id = ?1 AND seq = ?2
            """, [.integer(room.rawValue), .integer(seq), .text(body), .integer(at)])
    }

    public func eraseMessage(room: RoomID, seq: Int64, at: Int64) throws {
        let key: [SQLValue] = [.integer(room.rawValue), .integer(seq)]
        try sqlite.run("""
            UPDATE messages SET body = '', deleted_at = ?3, edited_at = NULL, edit_count = 0, reactions = NULL,
                                version = version + 1
            WHERE room_id = ?1 AND seq = ?2
            """, key + [.integer(at)])
        try sqlite.run("DELETE FROM reactions WHERE room_id = ?1 AND seq = ?2", key)
        try sqlite.run("DELETE FROM reaction_marks WHERE room_id = ?1 AND seq = ?2", key)
    }

    public func appendChange(to target: SendTarget, kind: MessageChange.Kind, targetSeq: Int64, actor: UserID?,
                             at: Int64) throws -> (id: MessageID, seq: Int64) {
        // The single writer: last_seq as `sendTarget` read it is still the room's.
        let seq = target.lastSeq + 1
        try sqlite.run("""
            INSERT INTO messages (room_id, seq, sender_id, sender_device_id, client_msg_id, body, sent_at, kind,
                                  target_seq, change_no)
            VALUES (?1, ?2, coalesce(?3, (SELECT sender_id FROM messages WHERE room_id = ?1 AND seq = ?6)), NULL, ' change ' || ?1 || '.' || ?2, '', ?4, ?5, ?6,
                    (SELECT change_count + 1 FROM rooms WHERE id = ?1))
            """, [.integer(target.room.rawValue), .integer(seq), SQLValue(actor?.rawValue), .integer(at), .text(kind.rawValue),
                  .integer(targetSeq)])
        let id = MessageID(sqlite.lastInsertRowID)
        try sqlite.run("UPDATE rooms SET last_seq = ?2, change_count = change_count + 1 WHERE id = ?1",
                       [.integer(target.room.rawValue), .integer(seq)])
        return (id, seq)
    }

    public func addReaction(room: RoomID, seq: Int64, user: UserID, key: String, at: Int64) throws -> Bool {
        try sqlite.run("INSERT OR IGNORE INTO reactions (room_id, seq, user_id, key, created_at) VALUES (?, ?, ?, ?, ?)",
                       [.integer(room.rawValue), .integer(seq), .integer(user.rawValue), .text(key), .integer(at)]) > 0
    }

    public func removeReaction(room: RoomID, seq: Int64, user: UserID, key: String) throws -> Bool {
        try sqlite.run("DELETE FROM reactions WHERE room_id = ? AND seq = ? AND user_id = ? AND key = ?",
                       [.integer(room.rawValue), .integer(seq), .integer(user.rawValue), .text(key)]) > 0
    }

    public func setReactions(room: RoomID, seq: Int64, stored: String?, at: Int64) throws {
        let key: [SQLValue] = [.integer(room.rawValue), .integer(seq)]
        try sqlite.run("UPDATE messages SET reactions = ?3, version = version + 1 WHERE room_id = ?1 AND seq = ?2",
                       key + [stored.map(SQLValue.text) ?? .null])
        try sqlite.run("INSERT OR IGNORE INTO reaction_marks (room_id, seq, since) VALUES (?1, ?2, ?3)", key + [.integer(at)])
    }

    public func sawInPastStay(room: RoomID, seq: Int64, users: [UserID]) throws -> Set<UserID> {
        var saw = Set<UserID>()
        for user in users {
            let found = try sqlite.queryOne("""
                SELECT 1 FROM past_stays WHERE user_id = ?1 AND room_id = ?2 AND floor < ?3 AND ?3 <= left_seq LIMIT 1
                """, [.integer(user.rawValue), .integer(room.rawValue), .integer(seq)]) { _ in true }
            if found == true { saw.insert(user) }
        }
        return saw
    }

    public func takeReactionMarks(room: RoomID) throws -> [Int64] {
        // A mark whose message is gone (retention) goes without an event.
        let seqs = try sqlite.queryAll("""
            SELECT rm.seq FROM reaction_marks rm JOIN messages m ON m.room_id = rm.room_id AND m.seq = rm.seq
            WHERE rm.room_id = ? ORDER BY rm.seq
            """, [.integer(room.rawValue)]) {
            $0.int64(0)
        }
        try sqlite.run("DELETE FROM reaction_marks WHERE room_id = ?", [.integer(room.rawValue)])
        return seqs
    }

    public func requestErasure(user: UserID, at: Int64) throws -> Bool {
        try sqlite.run("INSERT OR IGNORE INTO erasures (user_id, requested_at) SELECT id, ?2 FROM users WHERE id = ?1",
                       [.integer(user.rawValue), .integer(at)]) > 0
    }

    public func messagesToErase(sender: UserID, after: String, limit: Int) throws -> [(room: RoomID, seq: Int64, clientMsgID: String)] {
        try sqlite.queryAll("""
            SELECT room_id, seq, client_msg_id FROM messages
            WHERE sender_id = ?1 AND client_msg_id > ?2 AND kind = 'message' AND deleted_at IS NULL
            ORDER BY client_msg_id LIMIT ?3
            """, [.integer(sender.rawValue), .text(after), .integer(Int64(limit))]) {
            (room: RoomID($0.int64(0)), seq: $0.int64(1), clientMsgID: $0.text(2))
        }
    }

    public func reactionsToErase(user: UserID, limit: Int) throws -> [(room: RoomID, seq: Int64, key: String)] {
        try sqlite.queryAll("SELECT room_id, seq, key FROM reactions WHERE user_id = ? ORDER BY room_id, seq LIMIT ?",
                            [.integer(user.rawValue), .integer(Int64(limit))]) {
            (room: RoomID($0.int64(0)), seq: $0.int64(1), key: $0.text(2))
        }
    }

    public func recordErasure(user: UserID, erased count: Int, finishedAt: Int64?) throws {
        try sqlite.run("UPDATE erasures SET erased_messages = erased_messages + ?2, finished_at = coalesce(finished_at, ?3) WHERE user_id = ?1",
                       [.integer(user.rawValue), .integer(Int64(count)), finishedAt.map(SQLValue.integer) ?? .null])
    }
}
