import SyncEngine
import JSON
import SQLiteStore

// Write diffusion on SQLite. Under the single writer nothing else moves
// users.inbox_seq during a command, so a fan-out may assign `inbox_seq + 1` from the
// value its caller read in the same command: that is the row lock here.

extension SQLiteWriter: InboxWrites {
    public func appendToInbox(user: UserID, _ entry: InboxEntry) throws -> Int64? {
        guard let seq = try sqlite.queryOne("UPDATE users SET inbox_seq = inbox_seq + 1 WHERE id = ? RETURNING inbox_seq",
                                            [.integer(user.rawValue)], { $0.int64(0) }) else { return nil }
        try sqlite.run("""
            INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.integer(user.rawValue), .integer(seq), .text(entry.kind.rawValue), SQLValue(entry.room?.rawValue),
                  SQLValue(entry.roomSeq), SQLValue(entry.payload?.serializedString), .integer(entry.createdAt),
                  .integer(entry.position)])
        return seq
    }

    /// The current members of `room` with their inbox positions, in one indexed read.
    func inboxRecipients(room: RoomID) throws -> [InboxRecipient] {
        try sqlite.queryAll("""
            SELECT m.user_id, u.inbox_seq FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?
            """, [.integer(room.rawValue)]) { InboxRecipient(user: UserID($0.int64(0)), inboxSeq: $0.int64(1)) }
    }

    /// Up to this many recipients, a fan-out runs one keyed statement per row; above,
    /// two set-based statements for the whole room.
    static let perRowFanOutLimit = 8

    /// Small rooms (direct chats): one single-row INSERT and one single-row UPDATE by
    /// primary key per recipient. Large rooms: one UPDATE and one INSERT ... SELECT for
    /// all of them. Both avoid RETURNING (an ephemeral table per execution), and the
    /// set-based ones use OR FAIL so that SQLite needs no statement journal (a copy of
    /// every page they touch): a conflict cannot happen here (seqs come from the
    /// counter just incremented), and if one did, the command fails after writing and
    /// the Writer undoes it by replaying its batch with savepoints.
    public func appendToMembers(room: RoomID, _ entry: InboxEntry, recipients: [InboxRecipient]?) throws -> [InboxAppend] {
        let targets = try recipients ?? inboxRecipients(room: room)
        let payloadValue = SQLValue(entry.payload?.serializedString)
        let roomSeqValue = SQLValue(entry.roomSeq)
        if targets.count > Self.perRowFanOutLimit {
            try sqlite.run("""
                UPDATE OR FAIL users SET inbox_seq = inbox_seq + 1 WHERE id IN (SELECT user_id FROM members WHERE room_id = ?1)
                """, [.integer(room.rawValue)])
            let inserted = try sqlite.run("""
                INSERT OR FAIL INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                SELECT u.id, u.inbox_seq, ?2, ?1, ?3, ?4, ?5, ?6
                FROM members m JOIN users u ON u.id = m.user_id
                WHERE m.room_id = ?1
                """, [.integer(room.rawValue), .text(entry.kind.rawValue), roomSeqValue, payloadValue,
                      .integer(entry.createdAt), .integer(entry.position)])
            // The member list read earlier in this command must be the one fanned out to
            // (the pairs returned, hence the wakes, come from `targets`); anything else
            // fails the command, which the writer then undoes alone.
            guard inserted == targets.count else { throw SyncError.unexpected("the fan-out wrote another number of inbox rows than targets") }
            return targets.map { InboxAppend(user: $0.user, seq: $0.inboxSeq + 1) }
        }
        var appended: [InboxAppend] = []
        appended.reserveCapacity(targets.count)
        for r in targets {
            let seq = r.inboxSeq + 1
            try sqlite.run("""
                INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.integer(r.user.rawValue), .integer(seq), .text(entry.kind.rawValue), .integer(room.rawValue),
                      roomSeqValue, payloadValue, .integer(entry.createdAt), .integer(entry.position)])
            try sqlite.run("UPDATE users SET inbox_seq = ?2 WHERE id = ?1", [.integer(r.user.rawValue), .integer(seq)])
            appended.append(InboxAppend(user: r.user, seq: seq))
        }
        return appended
    }
}
