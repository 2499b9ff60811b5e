import SyncEngine

// Every read of a pull is one statement whatever it covers (all hot rooms, all of a
// page's messages): arrays go in as `bigint[]` parameters, `unnest`ed and joined
// (`JOIN LATERAL ... LIMIT n` per room), so a pull page is a fixed number of round trips.
extension PGReader: StreamReads {
    public func hotMemberships(user: UserID, departuresAfter: Int64?) throws -> [Stream.HotMembership] {
        try pg.queryAll("""
            SELECT r.id, greatest(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, false, r.history_floor, 0::bigint
            FROM members m JOIN rooms r ON r.id = m.room_id
            WHERE m.user_id = $1 AND m.hot
            UNION ALL
            SELECT d.room_id, d.floor, d.left_seq, true, coalesce(r.history_floor, 0), d.left_inbox_seq
            FROM hot_departures d LEFT JOIN rooms r ON r.id = d.room_id
            WHERE d.user_id = $1 AND $2::boolean AND (d.left_inbox_seq = 0 OR d.left_inbox_seq > $3)
            ORDER BY 4, 1
            """, [.int(user.rawValue), .bool(departuresAfter != nil), .int(departuresAfter ?? 0)]) {
            Stream.HotMembership(room: RoomID($0.int64(0)), floor: $0.int64(1), lastSeq: $0.int64(2), departed: $0.bool(3),
                                 historyFloor: $0.int64(4), leftInboxSeq: $0.int64(5))
        }
    }

    public func inboxHead(user: UserID) throws -> Int64? {
        try pg.queryOne("SELECT inbox_seq FROM users WHERE id = $1", [.int(user.rawValue)]) { $0.int64(0) }
    }

    public func membersAtInboxHead(room: RoomID, users: [UserID: Int64]) throws -> Set<UserID> {
        guard !users.isEmpty else { return [] }
        let pairs = Array(users)
        var found = Set<UserID>()
        try pg.query("""
            SELECT u.id FROM unnest($2::bigint[], $3::bigint[]) AS k(id, seq)
            JOIN users u ON u.id = k.id AND u.inbox_seq = k.seq
            JOIN members m ON m.room_id = $1 AND m.user_id = k.id
            """, [.int(room.rawValue), .int64Array(pairs.map(\.key.rawValue)), .int64Array(pairs.map(\.value))]) {
            found.insert(UserID($0.int64(0)))
        }
        return found
    }

    public func streamHead(user: UserID) throws -> (inboxHead: Int64, hot: [Stream.HotMembership])? {
        // One row per hot membership, or one with NULLs for a user in no hot room.
        var head: Int64?
        var hot: [Stream.HotMembership] = []
        try pg.query("""
            SELECT u.inbox_seq, r.id, greatest(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, r.history_floor
            FROM users u LEFT JOIN (members m JOIN rooms r ON r.id = m.room_id) ON m.user_id = u.id AND m.hot
            WHERE u.id = $1 ORDER BY r.id
            """, [.int(user.rawValue)]) {
            head = $0.int64(0)
            guard !$0.isNull(1) else { return }
            hot.append(Stream.HotMembership(room: RoomID($0.int64(1)), floor: $0.int64(2), lastSeq: $0.int64(3), departed: false,
                                            historyFloor: $0.int64(4)))
        }
        return head.map { ($0, hot) }
    }

    public func inboxBounds(user: UserID) throws -> (head: Int64, floor: Int64)? {
        try pg.queryOne("SELECT inbox_seq, inbox_floor FROM users WHERE id = $1", [.int(user.rawValue)]) {
            (head: $0.int64(0), floor: $0.int64(1))
        }
    }

    public func historyFloor(room: RoomID) throws -> Int64? {
        try pg.queryOne("SELECT history_floor FROM rooms WHERE id = $1", [.int(room.rawValue)]) { $0.int64(0) }
    }

    public func storedAck(device: DeviceID) throws -> Stream.StoredAck? {
        // In a unit the ack is read to be moved forward: lock the device row, so two
        // nodes storing acks for one device cannot move it backwards.
        var ack: Stream.StoredAck?
        let sql = "SELECT acked_seq, acked_cursor FROM devices WHERE id = $1"
        let map: (PGRow) -> Void = { ack = Stream.StoredAck(seq: $0.int64(0), cursor: $0.optionalText(1)) }
        if locking {
            try lock(sql + " FOR NO KEY UPDATE", [.int(device.rawValue)], map)
        } else {
            try pg.query(sql, [.int(device.rawValue)], map)
        }
        return ack
    }

    public func inboxKeys(user: UserID, after: Int64, limit: Int) throws -> [Stream.InboxKey] {
        try pg.queryAll("""
            SELECT seq, kind, room_id, room_seq, pos, payload FROM inbox WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
            """, [.int(user.rawValue), .int(after), .int(Int64(limit))], Self.inboxKey)
    }

    public func inboxKeys(at positions: [UserID: Int64]) throws -> [UserID: Stream.InboxKey] {
        guard !positions.isEmpty else { return [:] }
        let pairs = Array(positions)
        var keys: [UserID: Stream.InboxKey] = [:]
        try pg.query("""
            SELECT i.seq, i.kind, i.room_id, i.room_seq, i.pos, i.payload, i.user_id
            FROM unnest($1::bigint[], $2::bigint[]) AS k(user_id, seq)
            JOIN inbox i ON i.user_id = k.user_id AND i.seq = k.seq
            """, [.int64Array(pairs.map(\.key.rawValue)), .int64Array(pairs.map(\.value))]) {
            keys[UserID($0.int64(6))] = Self.inboxKey($0)
        }
        return keys
    }

    public func inboxWindow(user: UserID, after: Int64, through: Int64) throws -> (head: Int64, keys: [Stream.InboxKey])? {
        // The head on every row (one row with NULL keys for an empty window).
        var head: Int64?
        var keys: [Stream.InboxKey] = []
        try pg.query("""
            SELECT i.seq, i.kind, i.room_id, i.room_seq, i.pos, i.payload, u.inbox_seq
            FROM users u LEFT JOIN inbox i ON i.user_id = u.id AND i.seq > $2 AND i.seq <= $3
            WHERE u.id = $1 ORDER BY i.seq
            """, [.int(user.rawValue), .int(after), .int(through)]) {
            head = $0.int64(6)
            if !$0.isNull(0) { keys.append(Self.inboxKey($0)) }
        }
        return head.map { ($0, keys) }
    }

    static func inboxKey(_ row: PGRow) -> Stream.InboxKey {
        Stream.InboxKey(seq: row.int64(0), kind: EventKind(rawValue: row.text(1)) ?? .member,
                        room: row.optionalInt64(2).map(RoomID.init), roomSeq: row.optionalInt64(3),
                        pos: row.int64(4), payload: row.optionalText(5))
    }

    public func hotRoomKeys(_ ranges: [Stream.RoomRange], limit: Int) throws -> [RoomID: [Stream.RoomKey]] {
        guard !ranges.isEmpty else { return [:] }
        var keys: [RoomID: [Stream.RoomKey]] = [:]
        // Per room, the first `limit` seqs of its range from the (room_id, seq) index.
        try pg.query("""
            SELECT k.room, m.id, m.seq
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS k(room, after, through)
            CROSS JOIN LATERAL (SELECT id, seq FROM messages
                                WHERE room_id = k.room AND seq > k.after AND seq <= k.through
                                ORDER BY seq LIMIT $4) m
            ORDER BY k.room, m.seq
            """, [.int64Array(ranges.map(\.room.rawValue)), .int64Array(ranges.map(\.after)),
                  .int64Array(ranges.map(\.through)), .int(Int64(limit))]) {
            keys[RoomID($0.int64(0)), default: []].append(Stream.RoomKey(pos: $0.int64(1), seq: $0.int64(2)))
        }
        return keys
    }

    public func changeSeqs(_ ranges: [Stream.RoomRange]) throws -> [RoomID: [Int64: Int64]] {
        guard !ranges.isEmpty else { return [:] }
        var out: [RoomID: [Int64: Int64]] = [:]
        try pg.query("""
            SELECT m.room_id, m.seq, m.target_seq
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS k(room, after, through)
            JOIN messages m ON m.room_id = k.room AND m.seq > k.after AND m.seq <= k.through AND m.kind <> 'message'
            """, [.int64Array(ranges.map(\.room.rawValue)), .int64Array(ranges.map(\.after)), .int64Array(ranges.map(\.through))]) {
            out[RoomID($0.int64(0)), default: [:]][$0.int64(1)] = $0.optionalInt64(2) ?? 0
        }
        return out
    }

    /// Whether the viewer (`$5`) may see the message a change row `c` changes: above their
    /// join (a member), or within one of their past stays (`past_stays`; a member added
    /// back keeps what they could see before, and nothing of the time away; one who left
    /// sees it only through their stays).
    static let viewerSees = """
        (EXISTS (SELECT 1 FROM members vm WHERE vm.room_id = c.room_id AND vm.user_id = $5 AND vm.joined_seq < c.target_seq)
         OR EXISTS (SELECT 1 FROM past_stays ps WHERE ps.user_id = $5 AND ps.room_id = c.room_id
                    AND ps.floor < c.target_seq AND c.target_seq <= ps.left_seq))
        """

    public func streamMessages(_ keys: [Stream.MessageKey], maxCount: Int, maxBodyBytes: Int, viewer: UserID) throws -> [Message?] {
        guard !keys.isEmpty else { return [] }
        // Every key is looked up once (a missing one: pruned): the row at it (`c`) is the
        // message as it is now, or a change row, whose message is read by its target seq
        // (none for a message from before the viewer joined: not theirs to see); the window
        // over the keys' order counts the messages found before each and their body bytes
        // (octet_length reads a stored value's length, not the value): of a change row, its
        // message's, read again by key for the count and the bytes (only change rows pay
        // that; one whose message is gone or not the viewer's is not found and adds no
        // bytes), and only the prefix of keys a page can reach comes back. Measured instead
        // (one node, 400 devices): a nested query computing the message once and counting it
        // outside, 0.105-0.128 against 0.071-0.085 ms a call; the message read once by a
        // join or a LATERAL join, 3-15 ms a call (planned badly).
        var out: [Message?] = []
        out.reserveCapacity(keys.count)
        try pg.query("""
            SELECT x.ord, \(MessageRows.columns(viewer: "$5")), x.kind, x.change_seq
            FROM (SELECT k.ord, c.kind, c.seq AS change_seq,
                         CASE WHEN c.id IS NULL THEN NULL WHEN c.target_seq IS NULL THEN c
                              ELSE (SELECT t FROM messages t WHERE t.room_id = c.room_id AND t.seq = c.target_seq
                                    AND \(Self.viewerSees)) END AS mrow,
                         count(CASE WHEN c.target_seq IS NULL THEN c.id
                                    ELSE (SELECT t.id FROM messages t WHERE t.room_id = c.room_id AND t.seq = c.target_seq
                                          AND \(Self.viewerSees)) END)
                             OVER w AS found_before,
                         coalesce(sum(octet_length(CASE WHEN c.target_seq IS NULL THEN c.body
                                                        ELSE (SELECT t.body FROM messages t WHERE t.room_id = c.room_id AND t.seq = c.target_seq
                                                              AND \(Self.viewerSees)) END))
                                  OVER w, 0) AS bytes_before
                  FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS k(room, seq, ord)
                  LEFT JOIN messages c ON c.room_id = k.room AND c.seq = k.seq
                  WINDOW w AS (ORDER BY k.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) x
            LEFT JOIN LATERAL (SELECT (x.mrow).*) m ON true
            LEFT JOIN users su ON su.id = m.sender_id
            WHERE x.found_before < $3 AND x.bytes_before <= $4
            ORDER BY x.ord
            """, [.int64Array(keys.map(\.room.rawValue)), .int64Array(keys.map(\.seq)), .int(Int64(maxCount)),
                  .int(Int64(maxBodyBytes)), .int(viewer.rawValue)]) {
            out.append($0.isNull(1) ? nil : MessageRows.message($0, at: 1, change: 1 + MessageRows.count))
        }
        return out
    }
}

extension PGWriter: StreamWrites {
    /// Acks whose cursor names no hot room (the common case) in one statement for all
    /// devices: rows locked in device id order, each replaced when the ack moves forward
    /// (`Stream.ackMoves` without hot rooms: nothing stored yet, or a higher inbox seq).
    /// Cursors with hot-room positions take the default path (lock and read, compare in
    /// Swift, update).
    public func advanceAcks(_ acks: [(device: DeviceID, cursor: Cursor)], now: Int64) throws -> [DeviceID: Bool?] {
        let plain = acks.filter { $0.cursor.hot.isEmpty }.sorted { $0.device.rawValue < $1.device.rawValue }
        var out: [DeviceID: Bool?] = [:]
        if !plain.isEmpty {
            for a in plain { out[a.device] = .some(nil) }
            try write("""
                WITH a AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS a(id, cursor, seq)),
                     d AS (SELECT dv.id, dv.acked_seq, dv.acked_cursor FROM devices dv
                           WHERE dv.id IN (SELECT a.id FROM a) ORDER BY dv.id FOR NO KEY UPDATE),
                     u AS (UPDATE devices dv SET acked_cursor = a.cursor, acked_seq = a.seq, last_seen_at = $4
                           FROM a JOIN d ON d.id = a.id
                           WHERE dv.id = a.id AND (d.acked_cursor IS NULL OR d.acked_seq < a.seq) RETURNING dv.id)
                SELECT d.id, d.id IN (SELECT u.id FROM u) FROM d
                """, [.int64Array(plain.map(\.device.rawValue)), .textArray(plain.map(\.cursor.encoded)),
                      .int64Array(plain.map(\.cursor.inboxSeq)), .int(now)]) {
                out[DeviceID($0.int64(0))] = $0.bool(1)
            }
        }
        for a in acks where !a.cursor.hot.isEmpty {
            guard let acked = try storedAck(device: a.device) else {
                out[a.device] = .some(nil)
                continue
            }
            let moves = Stream.ackMoves(from: acked.seq, acked.cursor, to: a.cursor)
            if moves { try storeAck(device: a.device, cursor: a.cursor, now: now) }
            out[a.device] = moves
        }
        return out
    }

    public func storeAck(device: DeviceID, cursor: Cursor, now: Int64) throws {
        try write("UPDATE devices SET acked_cursor = $1, acked_seq = $2, last_seen_at = $3 WHERE id = $4",
                  [.text(cursor.encoded), .int(cursor.inboxSeq), .int(now), .int(device.rawValue)])
    }
}
