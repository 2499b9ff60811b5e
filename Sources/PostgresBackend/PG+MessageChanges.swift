import SyncEngine

// Edits, recalls, reactions and erasures (MessageChangesStore.swift). A change takes the
// room row's lock first (`sendTarget`), then the message row's (`messageForChange`, FOR NO
// KEY UPDATE), as sends and membership changes take the room's first. A reaction takes
// only the message row's lock (it writes no room seq; the flush does, under the room's).

extension PGReader: MessageChangesReads {
    public func roomsWithReactionMarks(limit: Int) throws -> [RoomID] {
        try pg.queryAll("SELECT room_id FROM reaction_marks GROUP BY room_id ORDER BY min(since), room_id LIMIT $1", [.int(Int64(limit))]) {
            RoomID($0.int64(0))
        }
    }

    public func erasuresPending() throws -> [UserID] {
        try pg.queryAll("SELECT user_id FROM erasures WHERE finished_at IS NULL ORDER BY user_id", []) {
            UserID($0.int64(0))
        }
    }

    public func erasure(user: UserID) throws -> ErasureProgress? {
        try pg.queryOne("""
            SELECT e.requested_at, e.finished_at, e.erased_messages,
                   (SELECT count(*) FROM messages m WHERE m.sender_id = e.user_id AND m.kind = 'message' AND m.deleted_at IS NULL),
                   (SELECT count(*) FROM reactions r WHERE r.user_id = e.user_id)
            FROM erasures e WHERE e.user_id = $1
            """, [.int(user.rawValue)]) {
            ErasureProgress(requestedAt: $0.int64(0), finishedAt: $0.optionalInt64(1), messagesErased: $0.int64(2),
                            messagesLeft: $0.int64(3), reactionsLeft: $0.int64(4))
        }
    }
}

extension PGWriter: MessageChangesWrites {
    public func messageForChange(room: RoomID, seq: Int64, viewer: UserID) throws -> ChangeTarget? {
        var target: ChangeTarget?
        try lock("""
            SELECT \(MessageRows.columns(viewer: "$3")), m.sender_id FROM messages m JOIN users su ON su.id = m.sender_id
            WHERE m.room_id = $1 AND m.seq = $2 AND m.kind = 'message' FOR NO KEY UPDATE OF m
            """, [.int(room.rawValue), .int(seq), .int(viewer.rawValue)]) {
            target = ChangeTarget(message: MessageRows.message($0), sender: UserID($0.int64(MessageRows.count)),
                                  storedReactions: $0.optionalText(12))
        }
        return target
    }

    public func editMessage(room: RoomID, seq: Int64, body: String, at: Int64) throws {
        try write("""
            UPDATE messages SET body = $3, edited_at = $4, edit_count = edit_count + 1, version = version + 1
            WHERE room_id = $1 AND seq = $2
            """, [.int(room.rawValue), .int(seq), .text(body), .int(at)])
    }

    public func eraseMessage(room: RoomID, seq: Int64, at: Int64) throws {
        try write("""
            WITH m AS (UPDATE messages SET body = '', deleted_at = $3, edited_at = NULL, edit_count = 0, reactions = NULL,
                                           version = version + 1
                       WHERE room_id = $1 AND seq = $2),
                 r AS (DELETE FROM reactions WHERE room_id = $1 AND seq = $2)
            DELETE FROM reaction_marks WHERE room_id = $1 AND seq = $2
            """, [.int(room.rawValue), .int(seq), .int(at)])
    }

    public func appendChange(to target: SendTarget, kind: MessageChange.Kind, targetSeq: Int64, actor: UserID?,
                             at: Int64) throws -> (id: MessageID, seq: Int64) {
        // Under the room row's lock (`sendTarget`): last_seq + 1 is this row's seq.
        let seq = target.lastSeq + 1
        var id: Int64?
        try write("""
            WITH r AS (UPDATE rooms SET last_seq = $2, change_count = change_count + 1 WHERE id = $1 RETURNING change_count)
            INSERT INTO messages (room_id, seq, sender_id, sender_device_id, client_msg_id, body, sent_at, kind, target_seq,
                                  change_no)
            SELECT $1, $2, coalesce($3::bigint, (SELECT sender_id FROM messages WHERE room_id = $1 AND seq = $6)), NULL, ' change ' || $1 || '.' || $2, '', $4, $5, $6, r.change_count FROM r
            RETURNING id
            """, [.int(target.room.rawValue), .int(seq), actor.map { .int($0.rawValue) } ?? .null, .int(at), .text(kind.rawValue),
                  .int(targetSeq)]) { id = $0.int64(0) }
        guard let id else { throw SyncError.unexpected("a change's room row is not there") }
        return (MessageID(id), seq)
    }

    public func addReaction(room: RoomID, seq: Int64, user: UserID, key: String, at: Int64) throws -> Bool {
        try write("""
            INSERT INTO reactions (room_id, seq, user_id, key, created_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT DO NOTHING
            """, [.int(room.rawValue), .int(seq), .int(user.rawValue), .text(key), .int(at)]) > 0
    }

    public func removeReaction(room: RoomID, seq: Int64, user: UserID, key: String) throws -> Bool {
        try write("DELETE FROM reactions WHERE room_id = $1 AND seq = $2 AND user_id = $3 AND key = $4",
                  [.int(room.rawValue), .int(seq), .int(user.rawValue), .text(key)]) > 0
    }

    public func setReactions(room: RoomID, seq: Int64, stored: String?, at: Int64) throws {
        try write("""
            WITH m AS (UPDATE messages SET reactions = $3, version = version + 1 WHERE room_id = $1 AND seq = $2)
            INSERT INTO reaction_marks (room_id, seq, since) VALUES ($1, $2, $4) ON CONFLICT DO NOTHING
            """, [.int(room.rawValue), .int(seq), stored.map(PGValue.text) ?? .null, .int(at)])
    }

    public func sawInPastStay(room: RoomID, seq: Int64, users: [UserID]) throws -> Set<UserID> {
        var saw = Set<UserID>()
        try write("""
            SELECT DISTINCT user_id FROM past_stays
            WHERE room_id = $1 AND user_id = ANY($3::bigint[]) AND floor < $2 AND $2 <= left_seq
            """, [.int(room.rawValue), .int(seq), .int64Array(users.map(\.rawValue))]) { saw.insert(UserID($0.int64(0))) }
        return saw
    }

    public func takeReactionMarks(room: RoomID) throws -> [Int64] {
        // The messages' rows first, in seq order (a reaction locks its message, then its
        // mark: the same order), then the marks; a mark whose message is gone (retention)
        // goes without an event. `l` is referenced so that it runs before the DELETE.
        var seqs: [Int64] = []
        try write("""
            WITH l AS (SELECT m.seq FROM messages m
                       WHERE m.room_id = $1 AND m.seq IN (SELECT seq FROM reaction_marks WHERE room_id = $1)
                       ORDER BY m.seq FOR NO KEY UPDATE),
                 d AS (DELETE FROM reaction_marks rm WHERE rm.room_id = $1 AND (SELECT count(*) FROM l) >= 0 RETURNING rm.seq)
            SELECT d.seq FROM d WHERE d.seq IN (SELECT seq FROM l) ORDER BY d.seq
            """, [.int(room.rawValue)]) { seqs.append($0.int64(0)) }
        return seqs
    }

    public func requestErasure(user: UserID, at: Int64) throws -> Bool {
        try write("INSERT INTO erasures (user_id, requested_at) SELECT id, $2 FROM users WHERE id = $1 ON CONFLICT DO NOTHING",
                  [.int(user.rawValue), .int(at)]) > 0
    }

    public func messagesToErase(sender: UserID, after: String, limit: Int) throws -> [(room: RoomID, seq: Int64, clientMsgID: String)] {
        try pg.queryAll("""
            SELECT room_id, seq, client_msg_id FROM messages
            WHERE sender_id = $1 AND client_msg_id > $2 AND kind = 'message' AND deleted_at IS NULL
            ORDER BY client_msg_id LIMIT $3
            """, [.int(sender.rawValue), .text(after), .int(Int64(limit))]) {
            (room: RoomID($0.int64(0)), seq: $0.int64(1), clientMsgID: $0.text(2))
        }
    }

    public func reactionsToErase(user: UserID, limit: Int) throws -> [(room: RoomID, seq: Int64, key: String)] {
        try pg.queryAll("SELECT room_id, seq, key FROM reactions WHERE user_id = $1 ORDER BY room_id, seq LIMIT $2",
                        [.int(user.rawValue), .int(Int64(limit))]) {
            (room: RoomID($0.int64(0)), seq: $0.int64(1), key: $0.text(2))
        }
    }

    public func recordErasure(user: UserID, erased count: Int, finishedAt: Int64?) throws {
        try write("UPDATE erasures SET erased_messages = erased_messages + $2, finished_at = coalesce(finished_at, $3) WHERE user_id = $1",
                  [.int(user.rawValue), .int(Int64(count)), finishedAt.map(PGValue.int) ?? .null])
    }
}
