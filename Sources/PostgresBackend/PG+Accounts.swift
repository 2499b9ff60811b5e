import SyncEngine

// Accounts on PostgreSQL: users, devices, token lookups.

extension PGReader: AccountsReads {
    public func user(named name: String) throws -> User? {
        try pg.queryOne("SELECT id, name, created_at FROM users WHERE name = $1", [.text(name)]) {
            User(id: UserID($0.int64(0)), name: $0.text(1), createdAt: $0.int64(2))
        }
    }

    public func devices(of user: UserID) throws -> [Device] {
        try pg.queryAll("""
            SELECT id, name, created_at, last_seen_at, revoked_at IS NOT NULL, acked_cursor
            FROM devices WHERE user_id = $1 ORDER BY id
            """, [.int(user.rawValue)]) {
            Device(id: DeviceID($0.int64(0)), user: user, name: $0.text(1), createdAt: $0.int64(2),
                   lastSeenAt: $0.optionalInt64(3), revoked: $0.bool(4), ackedCursor: $0.optionalText(5))
        }
    }

    public func deviceOwner(_ device: DeviceID) throws -> UserID? {
        try pg.queryOne("SELECT user_id FROM devices WHERE id = $1", [.int(device.rawValue)]) { UserID($0.int64(0)) }
    }

    public func revokedDevices(since: Int64) throws -> [(device: DeviceID, user: UserID, at: Int64)] {
        try pg.queryAll("SELECT id, user_id, revoked_at FROM devices WHERE revoked_at >= $1", [.int(since)]) {
            (device: DeviceID($0.int64(0)), user: UserID($0.int64(1)), at: $0.int64(2))
        }
    }

    public func deviceActive(_ device: DeviceID) throws -> Bool {
        try pg.queryOne("SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL", [.int(device.rawValue)]) { _ in true } ?? false
    }

    public func principal(tokenHash: [UInt8]) throws -> Principal? {
        try pg.queryOne("""
            SELECT d.id, d.name, u.id, u.name FROM devices d JOIN users u ON u.id = d.user_id
            WHERE d.token_hash = $1 AND d.revoked_at IS NULL
            """, [.bytea(tokenHash)]) {
            Principal(user: UserID($0.int64(2)), userName: $0.text(3), device: DeviceID($0.int64(0)), deviceName: $0.text(1))
        }
    }

    public func principalForPull(tokenHash: [UInt8]) throws -> (Principal, Accounts.StreamState)? {
        try pg.queryOne("""
            SELECT d.id, d.name, u.id, u.name, u.inbox_seq, u.inbox_floor, d.acked_seq, d.acked_cursor
            FROM devices d JOIN users u ON u.id = d.user_id
            WHERE d.token_hash = $1 AND d.revoked_at IS NULL
            """, [.bytea(tokenHash)]) {
            (Principal(user: UserID($0.int64(2)), userName: $0.text(3), device: DeviceID($0.int64(0)), deviceName: $0.text(1)),
             Accounts.StreamState(inboxHead: $0.int64(4), inboxFloor: $0.int64(5), ackedSeq: $0.int64(6),
                                  ackedCursor: $0.optionalText(7)))
        }
    }
}

extension PGWriter: AccountsWrites {
    public func insertSocketTicket(hash: [UInt8], device: DeviceID, expiresAt: Int64, now: Int64) throws {
        try write("""
            WITH gone AS (DELETE FROM socket_tickets WHERE device_id = $2 AND expires_at < $4)
            INSERT INTO socket_tickets (ticket_hash, device_id, expires_at) VALUES ($1, $2, $3)
            """, [.bytea(hash), .int(device.rawValue), .int(expiresAt), .int(now)])
    }

    public func takeSocketTicket(hash: [UInt8], now: Int64) throws -> Principal? {
        // DELETE ... RETURNING: of two nodes taking one ticket at once, one gets the row.
        var found: (Principal, Int64, Bool)?
        try write("""
            WITH t AS (DELETE FROM socket_tickets WHERE ticket_hash = $1 RETURNING device_id, expires_at)
            SELECT d.id, d.name, u.id, u.name, t.expires_at, d.revoked_at IS NULL
            FROM t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
            """, [.bytea(hash)]) { row in
            found = (Principal(user: UserID(row.int64(2)), userName: row.text(3), device: DeviceID(row.int64(0)), deviceName: row.text(1)),
                     row.int64(4), row.bool(5))
        }
        guard let (principal, expiresAt, active) = found else { return nil }
        return expiresAt >= now && active ? principal : nil
    }

    public func insertUser(name: String, createdAt: Int64) throws -> UserID? {
        // ON CONFLICT waits for a concurrent insert of the same name to commit or roll back.
        var id: Int64?
        try write("INSERT INTO users (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id",
                  [.text(name), .int(createdAt)]) { id = $0.int64(0) }
        return id.map(UserID.init)
    }

    public func insertDevice(user: UserID, name: String, tokenHash: [UInt8], createdAt: Int64) throws -> DeviceID {
        var id: Int64 = 0
        try write("INSERT INTO devices (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                  [.int(user.rawValue), .text(name), .bytea(tokenHash), .int(createdAt)]) { id = $0.int64(0) }
        return DeviceID(id)
    }

    public func revokeDevice(_ device: DeviceID, at: Int64) throws -> Bool {
        try write("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                  [.int(at), .int(device.rawValue)]) > 0
    }
}
