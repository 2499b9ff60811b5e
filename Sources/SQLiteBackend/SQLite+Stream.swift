import SyncEngine
import SQLiteStore

// The stream's statements (see StreamStore.swift). Built once: a statement is looked
// up by its text on every pull.
private enum SQL {
    static let inboxKeysColumns = "seq, kind, room_id, room_seq, pos, payload FROM inbox"
    static let inboxAfter = "SELECT \(inboxKeysColumns) WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?"
    static let inboxAt = "SELECT \(inboxKeysColumns) WHERE user_id = ? AND seq = ?"
    static let inboxWindow = "SELECT \(inboxKeysColumns) WHERE user_id = ? AND seq > ? AND seq <= ? ORDER BY seq"
    // Seqs from the (room_id, seq) index alone: no body is read.
    static let hotRoomKeys = "SELECT id, seq FROM messages WHERE room_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
    /// The row at a stream key: a message as it is now (one index probe, as every message
    /// row of a pull), or a change row, whose kind and target seq say which message to read
    /// (`changeTarget`).
    static let rowByKey = """
        SELECT \(MessageRows.columns(viewer: "?3")), m.kind, m.target_seq
        FROM messages m JOIN users su ON su.id = m.sender_id WHERE m.room_id = ?1 AND m.seq = ?2
        """
    /// The longest run of keys read at once (`rowsInRun`).
    static let maxRun = 256
    /// The rows at consecutive seqs of one room (`rowByKey` for a run of keys): one range
    /// read of the (room_id, seq) index instead of a probe per key.
    static let rowsInRun = """
        SELECT \(MessageRows.columns(viewer: "?4")), m.kind, m.target_seq
        FROM messages m JOIN users su ON su.id = m.sender_id WHERE m.room_id = ?1 AND m.seq >= ?2 AND m.seq <= ?3
        ORDER BY m.seq
        """
    /// The message a change row changes, as it is now; none unless it is above the
    /// viewer's join (a member) or within one of their past stays (`past_stays`): what
    /// was said before they joined, or while they were away, is not theirs to see (one who
    /// left sees it only through their stays: no member row is not "joined at 0").
    static let changeTarget = """
        SELECT \(MessageRows.columns(viewer: "?3"))
        FROM messages m JOIN users su ON su.id = m.sender_id WHERE m.room_id = ?1 AND m.seq = ?2
        AND (EXISTS (SELECT 1 FROM members vm WHERE vm.room_id = ?1 AND vm.user_id = ?3 AND vm.joined_seq < ?2)
             OR EXISTS (SELECT 1 FROM past_stays ps WHERE ps.user_id = ?3 AND ps.room_id = ?1
                        AND ps.floor < ?2 AND ?2 <= ps.left_seq))
        """

    static let hotMemberships = """
        SELECT r.id, max(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, 0, r.history_floor, 0
        FROM members m JOIN rooms r ON r.id = m.room_id
        WHERE m.user_id = ?1 AND m.hot = 1 ORDER BY m.room_id
        """
    static let hotMembershipsAndDepartures = """
        SELECT r.id, max(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, 0, r.history_floor, 0
        FROM members m JOIN rooms r ON r.id = m.room_id
        WHERE m.user_id = ?1 AND m.hot = 1
        UNION ALL
        SELECT d.room_id, d.floor, d.left_seq, 1, coalesce(r.history_floor, 0), d.left_inbox_seq
        FROM hot_departures d LEFT JOIN rooms r ON r.id = d.room_id
        WHERE d.user_id = ?1 AND (d.left_inbox_seq = 0 OR d.left_inbox_seq > ?2)
        ORDER BY 4, 1
        """

    /// Maps `inboxKeysColumns`.
    static func toInboxKey(_ row: Row) -> Stream.InboxKey {
        Stream.InboxKey(seq: row.int64(0), kind: EventKind(rawValue: row.text(1)) ?? .member,
                        room: row.optionalInt64(2).map(RoomID.init), roomSeq: row.optionalInt64(3),
                        pos: row.int64(4), payload: row.optionalText(5))
    }
}

// The batch reads (all hot rooms' keys, a page's messages) loop one prepared statement
// inside the snapshot's read transaction: SQLite runs in-process, so a statement costs no
// round trip, and a keyed lookup per item is as cheap as any set-based spelling here
// (json_each or a window function over the same index lookups would only add work).
// What matters on SQLite is not being slower than before, and it reads no more rows.
extension SQLiteReader: StreamReads {
    public func hotMemberships(user: UserID, departuresAfter: Int64?) throws -> [Stream.HotMembership] {
        // Without departures (most pulls), the membership query alone, as before.
        try sqlite.queryAll(departuresAfter == nil ? SQL.hotMemberships : SQL.hotMembershipsAndDepartures,
                            departuresAfter.map { [.integer(user.rawValue), .integer($0)] } ?? [.integer(user.rawValue)]) {
            Stream.HotMembership(room: RoomID($0.int64(0)), floor: $0.int64(1), lastSeq: $0.int64(2), departed: $0.int64(3) != 0,
                                 historyFloor: $0.int64(4), leftInboxSeq: $0.int64(5))
        }
    }

    public func inboxHead(user: UserID) throws -> Int64? {
        try sqlite.queryOne("SELECT inbox_seq FROM users WHERE id = ?", [.integer(user.rawValue)]) { $0.int64(0) }
    }

    public func membersAtInboxHead(room: RoomID, users: [UserID: Int64]) throws -> Set<UserID> {
        // In-process: one prepared statement per user.
        var found = Set<UserID>()
        for (user, seq) in users {
            let here = try sqlite.queryOne("""
                SELECT 1 FROM users u JOIN members m ON m.room_id = ? AND m.user_id = u.id
                WHERE u.id = ? AND u.inbox_seq = ?
                """, [.integer(room.rawValue), .integer(user.rawValue), .integer(seq)]) { _ in true } ?? false
            if here { found.insert(user) }
        }
        return found
    }

    public func streamHead(user: UserID) throws -> (inboxHead: Int64, hot: [Stream.HotMembership])? {
        // Two statements in the snapshot (in-process: no round trips to save).
        guard let head = try inboxHead(user: user) else { return nil }
        return (head, try hotMemberships(user: user, departuresAfter: nil))
    }

    public func inboxBounds(user: UserID) throws -> (head: Int64, floor: Int64)? {
        try sqlite.queryOne("SELECT inbox_seq, inbox_floor FROM users WHERE id = ?", [.integer(user.rawValue)]) {
            (head: $0.int64(0), floor: $0.int64(1))
        }
    }

    public func historyFloor(room: RoomID) throws -> Int64? {
        try sqlite.queryOne("SELECT history_floor FROM rooms WHERE id = ?", [.integer(room.rawValue)]) { $0.int64(0) }
    }


    public func storedAck(device: DeviceID) throws -> Stream.StoredAck? {
        try sqlite.queryOne("SELECT acked_seq, acked_cursor FROM devices WHERE id = ?", [.integer(device.rawValue)]) {
            Stream.StoredAck(seq: $0.int64(0), cursor: $0.optionalText(1))
        }
    }

    public func inboxKeys(user: UserID, after: Int64, limit: Int) throws -> [Stream.InboxKey] {
        try sqlite.queryAll(SQL.inboxAfter, [.integer(user.rawValue), .integer(after), .integer(Int64(limit))], SQL.toInboxKey)
    }

    public func inboxKeys(at positions: [UserID: Int64]) throws -> [UserID: Stream.InboxKey] {
        // In-process: one prepared statement per user.
        var keys: [UserID: Stream.InboxKey] = [:]
        for (user, seq) in positions {
            keys[user] = try sqlite.queryOne(SQL.inboxAt, [.integer(user.rawValue), .integer(seq)], SQL.toInboxKey)
        }
        return keys
    }

    public func inboxWindow(user: UserID, after: Int64, through: Int64) throws -> (head: Int64, keys: [Stream.InboxKey])? {
        // Two statements in the snapshot (in-process: no round trips to save).
        guard let head = try inboxHead(user: user) else { return nil }
        return (head, try inboxKeys(user: user, after: after, through: min(through, head)))
    }

    private func inboxKeys(user: UserID, after: Int64, through: Int64) throws -> [Stream.InboxKey] {
        var keys: [Stream.InboxKey] = []
        keys.reserveCapacity(Int(max(0, min(through - after, 100_000))))
        try sqlite.query(SQL.inboxWindow, [.integer(user.rawValue), .integer(after), .integer(through)]) { row in
            keys.append(SQL.toInboxKey(row))
        }
        return keys
    }

    public func hotRoomKeys(_ ranges: [Stream.RoomRange], limit: Int) throws -> [RoomID: [Stream.RoomKey]] {
        var keys: [RoomID: [Stream.RoomKey]] = [:]
        for r in ranges {
            let roomKeys = try sqlite.queryAll(SQL.hotRoomKeys, [.integer(r.room.rawValue), .integer(r.after), .integer(r.through),
                                                                 .integer(Int64(limit))]) {
                Stream.RoomKey(pos: $0.int64(0), seq: $0.int64(1))
            }
            if !roomKeys.isEmpty { keys[r.room, default: []] += roomKeys }
        }
        return keys
    }

    public func changeSeqs(_ ranges: [Stream.RoomRange]) throws -> [RoomID: [Int64: Int64]] {
        var out: [RoomID: [Int64: Int64]] = [:]
        for r in ranges {
            try sqlite.query("SELECT seq, target_seq FROM messages WHERE room_id = ? AND kind <> 'message' AND seq > ? AND seq <= ?",
                             [.integer(r.room.rawValue), .integer(r.after), .integer(r.through)]) { row in
                out[r.room, default: [:]][row.int64(0)] = row.optionalInt64(1) ?? 0
            }
        }
        return out
    }

    public func streamMessages(_ keys: [Stream.MessageKey], maxCount: Int, maxBodyBytes: Int, viewer: UserID) throws -> [Message?] {
        var out: [Message?] = []
        out.reserveCapacity(min(keys.count, maxCount))
        var found = 0
        var bodyBytes = 0
        var i = 0
        while i < keys.count {
            // The bounds of the protocol: a page cannot reach this key.
            if found >= maxCount || bodyBytes > maxBodyBytes { break }
            // A run: keys of one room at consecutive seqs (a device behind in a busy room),
            // read with one range statement; no longer than the page can still take.
            var end = i + 1
            while end < keys.count, end - i < min(maxCount - found, SQL.maxRun), keys[end].room == keys[i].room,
                  keys[end - 1].seq < Int64.max, keys[end].seq == keys[end - 1].seq + 1 {
                end += 1
            }
            let rows = try self.rows(keys[i..<end], bodyBudget: maxBodyBytes - bodyBytes, viewer: viewer)
            for (key, row) in zip(keys[i..<end], rows) {
                if found >= maxCount || bodyBytes > maxBodyBytes { break }
                var m = row?.message
                if let row, let kind = MessageChange.Kind(rawValue: row.kind), let target = row.target {
                    m = try sqlite.queryOne(SQL.changeTarget, [.integer(key.room.rawValue), .integer(target), .integer(viewer.rawValue)]) {
                        MessageRows.message($0)
                    }
                    m?.change = MessageChange(kind: kind, seq: key.seq)
                }
                if let m {
                    found += 1
                    bodyBytes += m.body.utf8.count
                }
                out.append(m)
            }
            i = end
        }
        return out
    }

    private typealias KeyRow = (message: Message, kind: String, target: Int64?)

    /// The rows at `run`'s keys (one room, consecutive seqs), in order; nil where there is
    /// none (pruned), or where the page's bytes end before it. One key is a probe, more a
    /// range read, which stops after the row whose message bodies pass `bodyBudget` (a
    /// change row counts none here, its target's body more in `streamMessages`, so the
    /// page ends at or before the first row not read): no body past the page's end is read.
    private func rows(_ run: ArraySlice<Stream.MessageKey>, bodyBudget: Int, viewer: UserID) throws -> [KeyRow?] {
        func row(_ r: Row) -> KeyRow {
            (MessageRows.message(r), kind: r.text(MessageRows.count), target: r.optionalInt64(MessageRows.count + 1))
        }
        let first = run[run.startIndex]
        if run.count == 1 {
            return [try sqlite.queryOne(SQL.rowByKey, [.integer(first.room.rawValue), .integer(first.seq), .integer(viewer.rawValue)], row)]
        }
        var rows = [KeyRow?](repeating: nil, count: run.count)
        var bytes = 0
        try sqlite.queryWhile(SQL.rowsInRun, [.integer(first.room.rawValue), .integer(first.seq), .integer(run[run.endIndex - 1].seq),
                                         .integer(viewer.rawValue)]) { r -> Bool in
            let found = row(r)
            rows[Int(found.message.seq - first.seq)] = found
            if found.target == nil { bytes += found.message.body.utf8.count }
            return bytes <= bodyBudget
        }
        return rows
    }
}

extension SQLiteWriter: StreamWrites {
    public func storeAck(device: DeviceID, cursor: Cursor, now: Int64) throws {
        try sqlite.run("UPDATE devices SET acked_cursor = ?, acked_seq = ?, last_seen_at = ? WHERE id = ?",
                       [.text(cursor.encoded), .integer(cursor.inboxSeq), .integer(now), .integer(device.rawValue)])
    }
}
