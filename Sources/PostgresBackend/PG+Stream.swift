import SyncEngine

extension PGReader: StreamReads {
    public func hotMemberships(user: UserID) throws -> [Stream.HotMembership] {
        try pg.queryAll("""
            SELECT r.id, greatest(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq
            FROM members m JOIN rooms r ON r.id = m.room_id
            WHERE m.user_id = $1 AND m.hot ORDER BY m.room_id
            """, [.int(user.rawValue)]) {
            Stream.HotMembership(room: RoomID($0.int64(0)), floor: $0.int64(1), lastSeq: $0.int64(2), departed: false)
        }
    }

    public func hotDepartures(user: UserID) throws -> [Stream.HotMembership] {
        try pg.queryAll("SELECT room_id, floor, left_seq FROM hot_departures WHERE user_id = $1 ORDER BY room_id",
                        [.int(user.rawValue)]) {
            Stream.HotMembership(room: RoomID($0.int64(0)), floor: $0.int64(1), lastSeq: $0.int64(2), departed: true)
        }
    }

    public func inboxHead(user: UserID) throws -> Int64? {
        try pg.queryOne("SELECT inbox_seq FROM users WHERE id = $1", [.int(user.rawValue)]) { $0.int64(0) }
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

    public func inboxKeys(user: UserID, after: Int64, through: Int64) throws -> [Stream.InboxKey] {
        try pg.queryAll("""
            SELECT seq, kind, room_id, room_seq, pos, payload FROM inbox WHERE user_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq
            """, [.int(user.rawValue), .int(after), .int(through)], Self.inboxKey)
    }

    static func inboxKey(_ row: PGRow) -> Stream.InboxKey {
        Stream.InboxKey(seq: row.int64(0), kind: EventKind(rawValue: row.text(1)) ?? .member,
                        room: row.optionalInt64(2).map(RoomID.init), roomSeq: row.optionalInt64(3),
                        pos: row.int64(4), payload: row.optionalText(5))
    }

    public func hotRoomKeys(room: RoomID, after: Int64, through: Int64, limit: Int) throws -> [Stream.RoomKey] {
        try pg.queryAll("""
            SELECT id, seq FROM messages WHERE room_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4
            """, [.int(room.rawValue), .int(after), .int(through), .int(Int64(limit))]) {
            Stream.RoomKey(pos: $0.int64(0), seq: $0.int64(1))
        }
    }

    public func streamMessage(room: RoomID, seq: Int64) throws -> Message? {
        try pg.queryOne("""
            SELECT \(MessageRows.columns) FROM messages m JOIN users su ON su.id = m.sender_id WHERE m.room_id = $1 AND m.seq = $2
            """, [.int(room.rawValue), .int(seq)]) { MessageRows.message($0) }
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
