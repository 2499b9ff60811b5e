import SyncEngine
import JSON

// Write diffusion on PostgreSQL: each user's next inbox seq is assigned by
// `UPDATE users SET inbox_seq = inbox_seq + 1 ... RETURNING`, under the row's lock,
// the rows locked in user id order; the seqs read by the caller are not used.

extension PGWriter: InboxWrites {
    public func appendToInbox(user: UserID, _ entry: InboxEntry) throws -> Int64? {
        var seq: Int64?
        try write("""
            WITH u AS (UPDATE users SET inbox_seq = inbox_seq + 1 WHERE id = $1 RETURNING id, inbox_seq)
            INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
            SELECT id, inbox_seq, $2, $3, $4, $5, $6, $7 FROM u RETURNING seq
            """, [.int(user.rawValue), .text(entry.kind.rawValue), PGValue(entry.room?.rawValue), PGValue(entry.roomSeq),
                  PGValue(entry.payload?.serializedString), .int(entry.createdAt), .int(entry.position)]) { seq = $0.int64(0) }
        return seq
    }

    public func appendToMembers(room: RoomID, _ entry: InboxEntry, recipients: [InboxRecipient]?) throws -> [InboxAppend] {
        // Without `recipients`, the room's members are read in the same statement: every
        // caller holds the room's lock (taken in an earlier statement, so this statement's
        // snapshot has every membership change committed before it), and every writer of
        // a room's member rows takes that lock first.
        // $1: the recipients (unused, and then an empty array, when the members are read).
        let members = recipients == nil
            ? "SELECT mb.user_id FROM members mb WHERE mb.room_id = $3 AND cardinality($1::bigint[]) = 0"
            : "SELECT unnest($1::bigint[])"
        var appended: [InboxAppend] = []
        try write("""
            WITH l AS (SELECT id FROM users WHERE id IN (\(members)) ORDER BY id FOR NO KEY UPDATE),
                 u AS (UPDATE users SET inbox_seq = users.inbox_seq + 1 FROM l WHERE users.id = l.id
                       RETURNING users.id, users.inbox_seq)
            INSERT INTO inbox (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
            SELECT id, inbox_seq, $2, $3, $4, $5, $6, $7 FROM u RETURNING user_id, seq
            """, [.int64Array(recipients?.map(\.user.rawValue) ?? []), .text(entry.kind.rawValue), .int(room.rawValue),
                  PGValue(entry.roomSeq), PGValue(entry.payload?.serializedString), .int(entry.createdAt),
                  .int(entry.position)]) {
            appended.append(InboxAppend(user: UserID($0.int64(0)), seq: $0.int64(1)))
        }
        if let recipients, appended.count != recipients.count { throw SyncError.unexpected("the fan-out wrote another number of inbox rows than recipients") }
        return appended
    }
}
