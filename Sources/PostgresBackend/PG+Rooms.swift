import SyncEngine

// Rooms and memberships on PostgreSQL. A membership change takes the room row's lock
// first (as a send does), so joins, leaves and sends of one room are serialized and a
// send's member list is the one its fan-out writes to.

/// The columns of a room and their mapping, shared by the areas that return rooms.
enum RoomRows {
    static let columns = "id, kind, name, last_seq, last_active_at, member_count, created_at, hot"

    static func room(_ row: PGRow, at offset: Int = 0) -> Room {
        Room(id: RoomID(row.int64(offset)), kind: RoomKind(rawValue: row.text(offset + 1)) ?? .group,
             name: row.optionalText(offset + 2), lastSeq: row.int64(offset + 3), lastActiveAt: row.int64(offset + 4),
             memberCount: row.int(offset + 5), createdAt: row.int64(offset + 6), hot: row.bool(offset + 7))
    }
}

extension PGReader: RoomsReads {
    public func room(_ room: RoomID) throws -> Room? {
        try pg.queryOne("SELECT \(RoomRows.columns) FROM rooms WHERE id = $1", [.int(room.rawValue)]) { RoomRows.room($0) }
    }

    public func roomExists(_ room: RoomID) throws -> Bool {
        try pg.queryOne("SELECT 1 FROM rooms WHERE id = $1", [.int(room.rawValue)]) { _ in true } ?? false
    }

    public func directRoom(key: String) throws -> RoomID? {
        try pg.queryOne("SELECT id FROM rooms WHERE direct_key = $1", [.text(key)]) { RoomID($0.int64(0)) }
    }

    public func membership(room: RoomID, user: UserID) throws -> Rooms.Membership? {
        try pg.queryOne("SELECT joined_seq, read_seq, role FROM members WHERE room_id = $1 AND user_id = $2",
                        [.int(room.rawValue), .int(user.rawValue)]) {
            Rooms.Membership(joinedSeq: $0.int64(0), readSeq: $0.int64(1), role: $0.text(2))
        }
    }

    public func isMember(room: RoomID, user: UserID) throws -> Bool {
        try pg.queryOne("SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2",
                        [.int(room.rawValue), .int(user.rawValue)]) { _ in true } ?? false
    }

    public func otherMemberName(room: RoomID, excluding user: UserID) throws -> String? {
        try pg.queryOne("""
            SELECT u.name FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = $1 AND m.user_id <> $2
            """, [.int(room.rawValue), .int(user.rawValue)]) { $0.text(0) }
    }

    public func otherMemberNames(rooms: [RoomID], excluding user: UserID) throws -> [RoomID: String] {
        guard !rooms.isEmpty else { return [:] }
        var names: [RoomID: String] = [:]
        try pg.query("""
            SELECT DISTINCT ON (m.room_id) m.room_id, u.name FROM members m JOIN users u ON u.id = m.user_id
            WHERE m.room_id = ANY($1::bigint[]) AND m.user_id <> $2 ORDER BY m.room_id, m.user_id
            """, [.int64Array(rooms.map(\.rawValue)), .int(user.rawValue)]) { names[RoomID($0.int64(0))] = $0.text(1) }
        return names
    }

    public func roomCounts(userNames names: [String], room: RoomID?) throws -> [String: (rooms: Int, inRoom: Bool)] {
        var out: [String: (rooms: Int, inRoom: Bool)] = [:]
        try pg.query("""
            SELECT u.name, (SELECT count(*) FROM members m WHERE m.user_id = u.id),
                   EXISTS (SELECT 1 FROM members m WHERE m.user_id = u.id AND m.room_id = $2)
            FROM users u WHERE u.name = ANY ($1::text[])
            """, [.textArray(Array(Set(names))), PGValue(room?.rawValue)]) { out[$0.text(0)] = ($0.int(1), $0.bool(2)) }
        return out
    }

    public func members(of room: RoomID, after: String?, limit: Int) throws -> [Member] {
        try pg.queryAll("""
            SELECT m.user_id, u.name, m.role, m.joined_seq, m.read_seq
            FROM members m JOIN users u ON u.id = m.user_id
            WHERE m.room_id = $1 AND ($2::text IS NULL OR u.name COLLATE "C" > $2::text COLLATE "C")
            ORDER BY u.name COLLATE "C" LIMIT $3
            """, [.int(room.rawValue), PGValue(after), .int(Int64(limit))]) {
            Member(user: UserID($0.int64(0)), name: $0.text(1), role: $0.text(2), joinedSeq: $0.int64(3), readSeq: $0.int64(4))
        }
    }
}

extension PGWriter: RoomsWrites {
    public func lockRoom(_ room: RoomID) throws {
        // NO KEY UPDATE: orders with sends and membership changes, but not with the
        // foreign-key checks of inserts that reference the room.
        try lock("SELECT 1 FROM rooms WHERE id = $1 FOR NO KEY UPDATE", [.int(room.rawValue)])
    }

    public func insertDirectRoom(key: String, createdBy: UserID, at: Int64) throws -> RoomID? {
        var id: Int64?
        try write("""
            INSERT INTO rooms (kind, direct_key, last_active_at, member_count, created_by, created_at)
            VALUES ('direct', $1, $2, 0, $3, $2) ON CONFLICT (direct_key) DO NOTHING RETURNING id
            """, [.text(key), .int(at), .int(createdBy.rawValue)]) { id = $0.int64(0) }
        return id.map(RoomID.init)
    }

    public func insertGroupRoom(name: String, createdBy: UserID, at: Int64) throws -> RoomID {
        var id: Int64 = 0
        try write("""
            INSERT INTO rooms (kind, name, last_active_at, member_count, created_by, created_at)
            VALUES ('group', $1, $2, 0, $3, $2) RETURNING id
            """, [.text(name), .int(at), .int(createdBy.rawValue)]) { id = $0.int64(0) }
        return RoomID(id)
    }

    public func insertMember(room: RoomID, user: UserID, role: String, joinedSeq: Int64, at: Int64) throws {
        // One statement: the room row first (its lock orders this join with sends; the
        // caller usually holds it already), and the member joins at the room's seq as of
        // that lock, in case a send committed since the caller read it.
        let inserted = try write("""
            WITH r AS (UPDATE rooms SET member_count = member_count + 1 WHERE id = $1 RETURNING last_seq, hot)
            INSERT INTO members (room_id, user_id, joined_seq, read_seq, last_active_at, role, hot)
            SELECT $1, $2, greatest($3, r.last_seq), greatest($3, r.last_seq), $4, $5, r.hot FROM r
            """, [.int(room.rawValue), .int(user.rawValue), .int(joinedSeq), .int(at), .text(role)])
        if inserted != 1 { throw SyncError.roomNotFound }
    }

    public func deleteMember(room: RoomID, user: UserID) throws -> Bool {
        // The caller holds the room's lock (`lockRoom`, Rooms.removeMember). One statement:
        // the member row and the count together.
        var removed = 0
        try write("""
            WITH d AS (DELETE FROM members WHERE room_id = $1 AND user_id = $2 RETURNING 1),
                 r AS (UPDATE rooms SET member_count = member_count - 1 WHERE id = $1 AND EXISTS (SELECT 1 FROM d))
            SELECT count(*) FROM d
            """, [.int(room.rawValue), .int(user.rawValue)]) { removed = $0.int(0) }
        return removed == 1
    }

    /// The whole join in one round trip: `ph_add_members`
    /// (migrations/postgres/0008_write_functions.sql), the default implementation's steps
    /// server-side, room lock first. It changes rows only when the outcome is `.added`.
    public func addMembersToGroup(_ r: AddMembersRequest) throws -> AddMembersOutcome {
        try willLock()
        var outcome: AddMembersOutcome?
        try pg.query("SELECT * FROM ph_add_members($1, $2, $3::text[], $4::text[], $5, $6)",
                     [.int(r.room.rawValue), .int(r.by.rawValue), .textArray(r.names),
                      .textArray(r.payloads.map(\.serializedString)), .int(r.at), .int(Int64(r.hotThreshold))]) { row in
            switch row.text(0) {
            case "no_room": outcome = .roomNotFound
            case "not_member": outcome = .notMember
            case "not_group": outcome = .notGroup
            case "no_user": outcome = .userNotFound(row.text(1))
            case "added":
                let ids = row.int64Array(2), names = row.textArray(3), joined = row.int64(4)
                let users = row.int64Array(5), seqs = row.int64Array(6)
                outcome = .added(
                    members: zip(ids, names).map { Member(user: UserID($0), name: $1, role: "member", joinedSeq: joined,
                                                          readSeq: joined) },
                    events: zip(users, seqs).map { InboxAppend(user: UserID($0), seq: $1) })
            default: break
            }
        }
        guard let outcome else { throw SyncError.unexpected("a server-side function answered no known status") }
        if case .added = outcome { didWrite() }
        return outcome
    }

    /// The whole leave in one round trip: `ph_remove_member`, room lock first. It changes
    /// rows only when the outcome is `.removed`.
    public func removeMemberFromGroup(_ r: RemoveMemberRequest) throws -> RemoveMemberOutcome {
        try willLock()
        var outcome: RemoveMemberOutcome?
        try pg.query("SELECT * FROM ph_remove_member($1, $2, $3, $4, $5)",
                     [.int(r.room.rawValue), .int(r.by.rawValue), .text(r.name), .text(r.payload.serializedString),
                      .int(r.at)]) { row in
            switch row.text(0) {
            case "no_room": outcome = .roomNotFound
            case "not_member": outcome = .notMember
            case "not_group": outcome = .notGroup
            case "no_user": outcome = .userNotFound
            case "not_owner": outcome = .notOwner
            case "target_not_member": outcome = .targetNotMember
            case "removed":
                outcome = .removed(events: zip(row.int64Array(1), row.int64Array(2)).map {
                    InboxAppend(user: UserID($0), seq: $1)
                })
            default: break
            }
        }
        guard let outcome else { throw SyncError.unexpected("a server-side function answered no known status") }
        if case .removed = outcome { didWrite() }
        return outcome
    }

    public func makeHotIfReached(room: RoomID, threshold: Int) throws -> Bool {
        let flipped = try write("""
            UPDATE rooms SET hot = true, hot_since_seq = last_seq WHERE id = $1 AND NOT hot AND member_count >= $2
            """, [.int(room.rawValue), .int(Int64(threshold))])
        if flipped > 0 { try write("UPDATE members SET hot = true WHERE room_id = $1", [.int(room.rawValue)]) }
        return flipped > 0
    }

    public func recordHotDeparture(user: UserID, room: RoomID, at: Int64) throws {
        try write("""
            INSERT INTO hot_departures (user_id, room_id, floor, left_seq, left_at, left_inbox_seq)
            SELECT m.user_id, m.room_id, greatest(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq, $3, u.inbox_seq
            FROM members m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id
            WHERE m.room_id = $1 AND m.user_id = $2
            ON CONFLICT (user_id, room_id, left_seq) DO NOTHING
            """, [.int(room.rawValue), .int(user.rawValue), .int(at)])
    }

    public func dropReceiptMarks(room: RoomID, sender: UserID) throws {
        try write("DELETE FROM receipt_marks WHERE room_id = $1 AND sender_id = $2", [.int(room.rawValue), .int(sender.rawValue)])
    }

    public func touchMembers(rooms: [RoomID: Int64]) throws {
        // Every room of the batch in one statement: member rows locked in (room, user)
        // order, the order one statement per room in room id order took them.
        let ids = rooms.keys.sorted()
        try write("""
            UPDATE members m SET last_active_at = l.at
            FROM (SELECT mb.room_id, mb.user_id, t.at
                  FROM unnest($1::bigint[], $2::bigint[]) AS t(room_id, at)
                  JOIN members mb ON mb.room_id = t.room_id
                  ORDER BY mb.room_id, mb.user_id FOR NO KEY UPDATE OF mb) l
            WHERE m.room_id = l.room_id AND m.user_id = l.user_id AND m.last_active_at < l.at
            """, [.int64Array(ids.map(\.rawValue)), .int64Array(ids.map { rooms[$0]! })])
    }

    public func touchMembers(room: RoomID, at: Int64) throws {
        // Member rows in user id order, as every multi-row lock here is taken.
        try write("""
            UPDATE members m SET last_active_at = $1
            FROM (SELECT user_id FROM members WHERE room_id = $2 ORDER BY user_id FOR NO KEY UPDATE) l
            WHERE m.room_id = $2 AND m.user_id = l.user_id AND m.last_active_at < $1
            """, [.int(at), .int(room.rawValue)])
    }
}
