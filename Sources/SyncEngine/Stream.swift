import JSON
import SQLiteStore

/// A user's event stream: pull from a cursor, catch-up with per-room limits, ack.
public enum Stream {
    static let eventColumns = """
        i.seq, i.kind, i.room_id, i.payload, \(Messages.columns)
        FROM inbox i
        LEFT JOIN messages m ON i.kind = 'message' AND m.room_id = i.room_id AND m.seq = i.room_seq
        LEFT JOIN users su ON su.id = m.sender_id
        """

    /// The newest position of `user`'s stream.
    public static func head(_ db: Database, user: UserID) throws -> Cursor {
        guard let seq = try db.queryOne("SELECT inbox_seq FROM users WHERE id = ?", [.integer(user.rawValue)], { $0.int64(0) }) else {
            throw SyncError.userNotFound(String(user.rawValue))
        }
        return Cursor(user: user, inboxSeq: seq)
    }

    /// Validates a client's cursor against the user's stream (DESIGN.md "Ordering and cursors").
    public static func validate(_ db: Database, cursor text: String, user: UserID) throws -> Cursor {
        guard let cursor = Cursor.decode(text) else { throw SyncError.invalidCursor("cursor does not parse") }
        guard cursor.user == user else { throw SyncError.invalidCursor("cursor belongs to another user") }
        let head = try head(db, user: user)
        guard cursor.inboxSeq <= head.inboxSeq else { throw SyncError.invalidCursor("cursor points past the end of the stream") }
        return cursor
    }

    /// Where a pull without a cursor starts: the device's acked cursor.
    public static func ackedCursor(_ db: Database, device: DeviceID, user: UserID) throws -> Cursor {
        guard let text = try db.queryOne("SELECT acked_cursor FROM devices WHERE id = ?", [.integer(device.rawValue)], {
            $0.optionalText(0)
        }), let text else { throw SyncError.cursorRequired }
        return try validate(db, cursor: text, user: user)
    }

    /// Events after `cursor`, at most `limit`. With `perRoomLimit`, a long-offline device
    /// gets only the newest N messages of each room in the scanned range plus a gap
    /// marker per room, instead of its whole backlog.
    public static func pull(_ ctx: ReadContext, user: UserID, after cursor: Cursor, limit: Int, perRoomLimit: Int?) throws -> PullResult {
        if let perRoomLimit { return try catchUp(ctx, user: user, after: cursor, limit: limit, perRoom: perRoomLimit) }
        var events: [(Int64, Event)] = []
        try ctx.db.query("SELECT \(eventColumns) WHERE i.user_id = ? AND i.seq > ? ORDER BY i.seq LIMIT ?",
                         [.integer(user.rawValue), .integer(cursor.inboxSeq), .integer(Int64(limit + 1))]) { row in
            events.append((row.int64(0), rowToEvent(row)))
        }
        let hasMore = events.count > limit
        if hasMore { events.removeLast() }
        let next = events.last.map { Cursor(user: user, inboxSeq: $0.0) } ?? cursor
        return PullResult(events: events.map(\.1), cursor: next, hasMore: hasMore, gaps: [])
    }

    private static func catchUp(_ ctx: ReadContext, user: UserID, after cursor: Cursor, limit: Int, perRoom: Int) throws -> PullResult {
        let head = try head(ctx.db, user: user)
        let upper = min(head.inboxSeq, cursor.inboxSeq + Int64(ctx.config.catchUpScanWindow))
        var rows: [(seq: Int64, event: Event)] = []
        try ctx.db.query("SELECT \(eventColumns) WHERE i.user_id = ? AND i.seq > ? AND i.seq <= ? ORDER BY i.seq",
                         [.integer(user.rawValue), .integer(cursor.inboxSeq), .integer(upper)]) { row in
            rows.append((row.int64(0), rowToEvent(row)))
        }
        // Walk backwards: keep the newest `perRoom` messages of each room.
        var keptPerRoom: [RoomID: Int] = [:]
        var oldestKept: [RoomID: Int64] = [:]
        var dropped = Set<RoomID>()
        var keep = [Bool](repeating: true, count: rows.count)
        for i in rows.indices.reversed() {
            guard rows[i].event.kind == .message, let room = rows[i].event.room, let m = rows[i].event.message else { continue }
            let n = keptPerRoom[room, default: 0]
            if n < perRoom {
                keptPerRoom[room] = n + 1
                oldestKept[room] = m.seq
            } else {
                keep[i] = false
                dropped.insert(room)
            }
        }
        var events: [Event] = []
        var last = cursor.inboxSeq
        var truncated = false
        for (i, row) in rows.enumerated() {
            if !keep[i] { last = row.seq; continue }
            if events.count == limit { truncated = true; break }
            events.append(row.event)
            last = row.seq
        }
        let gaps = dropped.sorted().compactMap { room in oldestKept[room].map { (room: room, beforeSeq: $0) } }
        return PullResult(events: events, cursor: Cursor(user: user, inboxSeq: last),
                          hasMore: truncated || upper < head.inboxSeq, gaps: gaps)
    }

    static func rowToEvent(_ row: Row) -> Event {
        let kind = EventKind(rawValue: row.text(1)) ?? .member
        let room = row.optionalInt64(2).map(RoomID.init)
        let payload = row.optionalText(3).flatMap { try? JSONParser.parse($0) }
        let message = kind == .message && !row.isNull(4) ? Messages.rowToMessage(row, at: 4) : nil
        return Event(kind: kind, room: room, message: message, payload: payload)
    }

    /// Whether acking `cursor` would move the device's stored position (so a pull that
    /// presents an already-acked cursor costs no write).
    public static func ackWouldAdvance(_ db: Database, device: DeviceID, cursor: Cursor) throws -> Bool {
        guard let row = try db.queryOne("SELECT acked_seq, acked_cursor FROM devices WHERE id = ?",
                                        [.integer(device.rawValue)], { ($0.int64(0), $0.optionalText(1)) }) else { return false }
        return cursor.inboxSeq > row.0 || (row.1 == nil) || (cursor.inboxSeq == row.0 && row.1 != cursor.encoded)
    }

    /// Stores the device's acked cursor; only moves forward (an older cursor is a no-op).
    /// Returns whether it moved.
    @discardableResult
    public static func ack(_ ctx: WriteContext, device: DeviceID, user: UserID, cursor text: String) throws -> Bool {
        let cursor = try validate(ctx.db, cursor: text, user: user)
        let changed = try ctx.db.run("UPDATE devices SET acked_cursor = ?, acked_seq = ?, last_seen_at = ? WHERE id = ? AND acked_seq < ?",
                                     [.text(cursor.encoded), .integer(cursor.inboxSeq), .integer(ctx.now),
                                      .integer(device.rawValue), .integer(cursor.inboxSeq)])
        if changed == 0 {
            // A device that never acked has acked_seq 0: acking position 0 still records a cursor.
            try ctx.db.run("UPDATE devices SET acked_cursor = ? WHERE id = ? AND acked_cursor IS NULL",
                           [.text(cursor.encoded), .integer(device.rawValue)])
        }
        return changed > 0
    }
}
