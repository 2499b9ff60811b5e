import SyncEngine
import SQLiteStore

// Accounts on SQLite: users, devices, token lookups.

extension SQLiteReader: AccountsReads {
    public func user(named name: String) throws -> User? {
        try sqlite.queryOne("SELECT id, name, created_at FROM users WHERE name = ?", [.text(name)]) {
            User(id: UserID($0.int64(0)), name: $0.text(1), createdAt: $0.int64(2))
        }
    }

    public func devices(of user: UserID) throws -> [Device] {
        try sqlite.queryAll("""
            SELECT id, name, created_at, last_seen_at, revoked_at IS NOT NULL, acked_cursor
            FROM devices WHERE user_id = ? ORDER BY id
            """, [.integer(user.rawValue)]) {
            Device(id: DeviceID($0.int64(0)), user: user, name: $0.text(1), createdAt: $0.int64(2),
                   lastSeenAt: $0.optionalInt64(3), revoked: $0.bool(4), ackedCursor: $0.optionalText(5))
        }
    }

    public func deviceOwner(_ device: DeviceID) throws -> UserID? {
        try sqlite.queryOne("SELECT user_id FROM devices WHERE id = ?", [.integer(device.rawValue)]) { UserID($0.int64(0)) }
    }

    public func revokedDevices(since: Int64) throws -> [(device: DeviceID, user: UserID, at: Int64)] {
        try sqlite.queryAll("SELECT id, user_id, revoked_at FROM devices WHERE revoked_at >= ?", [.integer(since)]) {
            (device: DeviceID($0.int64(0)), user: UserID($0.int64(1)), at: $0.int64(2))
        }
    }

    public func deviceActive(_ device: DeviceID) throws -> Bool {
        try sqlite.queryOne("SELECT 1 FROM devices WHERE id = ? AND revoked_at IS NULL", [.integer(device.rawValue)]) { _ in true } ?? false
    }

    public func principal(tokenHash: [UInt8]) throws -> Principal? {
        try sqlite.queryOne("""
            SELECT d.id, d.name, u.id, u.name FROM devices d JOIN users u ON u.id = d.user_id
            WHERE d.token_hash = ? AND d.revoked_at IS NULL
            """, [.blob(tokenHash)]) {
            Principal(user: UserID($0.int64(2)), userName: $0.text(3), device: DeviceID($0.int64(0)), deviceName: $0.text(1))
        }
    }

    public func principalForPull(tokenHash: [UInt8]) throws -> (Principal, Accounts.StreamState)? {
        try sqlite.queryOne("""
            SELECT d.id, d.name, u.id, u.name, u.inbox_seq, u.inbox_floor, d.acked_seq, d.acked_cursor
            FROM devices d JOIN users u ON u.id = d.user_id
            WHERE d.token_hash = ? AND d.revoked_at IS NULL
            """, [.blob(tokenHash)]) {
            (Principal(user: UserID($0.int64(2)), userName: $0.text(3), device: DeviceID($0.int64(0)), deviceName: $0.text(1)),
             Accounts.StreamState(inboxHead: $0.int64(4), inboxFloor: $0.int64(5), ackedSeq: $0.int64(6),
                                  ackedCursor: $0.optionalText(7)))
        }
    }
}

extension SQLiteWriter: AccountsWrites {
    public func insertSocketTicket(hash: [UInt8], device: DeviceID, expiresAt: Int64, now: Int64) throws {
        _ = try sqlite.run("DELETE FROM socket_tickets WHERE device_id = ? AND expires_at < ?", [.integer(device.rawValue), .integer(now)])
        _ = try sqlite.run("INSERT INTO socket_tickets (ticket_hash, device_id, expires_at) VALUES (?, ?, ?)",
                           [.blob(hash), .integer(device.rawValue), .integer(expiresAt)])
    }

    public func takeSocketTicket(hash: [UInt8], now: Int64) throws -> Principal? {
        // The one writer: reading and deleting in one unit is one atomic step.
        let found = try sqlite.queryOne("""
            SELECT d.id, d.name, u.id, u.name, t.expires_at, d.revoked_at IS NULL
            FROM socket_tickets t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
            WHERE t.ticket_hash = ?
            """, [.blob(hash)]) { row -> (Principal, Int64, Bool) in
            (Principal(user: UserID(row.int64(2)), userName: row.text(3), device: DeviceID(row.int64(0)), deviceName: row.text(1)),
             row.int64(4), row.int64(5) != 0)
        }
        guard let (principal, expiresAt, active) = found else { return nil }
        _ = try sqlite.run("DELETE FROM socket_tickets WHERE ticket_hash = ?", [.blob(hash)])
        return expiresAt >= now && active ? principal : nil
    }

    public func insertUser(name: String, createdAt: Int64) throws -> UserID? {
        do {
            try sqlite.run("INSERT INTO users (name, created_at) VALUES (?, ?)", [.text(name), .integer(createdAt)])
        } catch let e where e.isConstraintUnique {
            // A failed INSERT (ON CONFLICT ABORT) undoes only itself: the command goes on.
            return nil
        }
        return UserID(sqlite.lastInsertRowID)
    }

    public func insertDevice(user: UserID, name: String, tokenHash: [UInt8], createdAt: Int64) throws -> DeviceID {
        try sqlite.run("INSERT INTO devices (user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                       [.integer(user.rawValue), .text(name), .blob(tokenHash), .integer(createdAt)])
        return DeviceID(sqlite.lastInsertRowID)
    }

    public func revokeDevice(_ device: DeviceID, at: Int64) throws -> Bool {
        try sqlite.run("UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                       [.integer(at), .integer(device.rawValue)]) > 0
    }
}
