import SQLiteStore

/// Users and devices: provisioning (admin) and token authentication.
public enum Accounts {
    public static func createUser(_ ctx: WriteContext, name: String) throws -> User {
        guard Validation.isValidName(name) else {
            throw SyncError.invalid(field: "name", reason: "1-64 characters of a-z, 0-9, '.', '_' or '-'")
        }
        do {
            try ctx.db.run("INSERT INTO users (name, created_at) VALUES (?, ?)", [.text(name), .integer(ctx.now)])
        } catch let e where e.isConstraintUnique {
            throw SyncError.userExists(name)
        }
        return User(id: UserID(ctx.db.lastInsertRowID), name: name, createdAt: ctx.now)
    }

    /// Creates a device and returns its bearer token: the only time the token exists
    /// outside the client (we keep its SHA-256).
    public static func createDevice(_ ctx: WriteContext, userName: String, deviceName: String) throws -> (Device, token: String) {
        guard Validation.isValidDisplayName(deviceName, max: 64) else {
            throw SyncError.invalid(field: "name", reason: "1-64 characters, no control characters")
        }
        guard let user = try user(ctx.db, named: userName) else { throw SyncError.userNotFound(userName) }
        let token = try Tokens.newDeviceToken()
        try ctx.db.run("INSERT INTO devices (user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                       [.integer(user.id.rawValue), .text(deviceName), .blob(Tokens.hash(token)), .integer(ctx.now)])
        let device = Device(id: DeviceID(ctx.db.lastInsertRowID), user: user.id, name: deviceName, createdAt: ctx.now,
                            lastSeenAt: nil, revoked: false, ackedCursor: nil)
        return (device, token)
    }

    /// Revokes a device: its token stops authenticating at once (the next request is 401).
    /// Its open WebSockets are closed and its parked pulls answered 401 (after the commit).
    public static func revokeDevice(_ ctx: WriteContext, id: DeviceID) throws {
        guard let user = try ctx.db.queryOne("SELECT user_id FROM devices WHERE id = ?", [.integer(id.rawValue)], {
            UserID($0.int64(0))
        }) else { throw SyncError.deviceNotFound }
        let changed = try ctx.db.run("UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                     [.integer(ctx.now), .integer(id.rawValue)])
        if changed > 0 { ctx.revoked[user, default: []].append(id) }
    }

    public static func user(_ db: any StoreReader, named name: String) throws -> User? {
        try db.queryOne("SELECT id, name, created_at FROM users WHERE name = ?", [.text(name)]) {
            User(id: UserID($0.int64(0)), name: $0.text(1), createdAt: $0.int64(2))
        }
    }

    public static func devices(_ db: any StoreReader, userName: String) throws -> [Device] {
        guard let user = try user(db, named: userName) else { throw SyncError.userNotFound(userName) }
        return try db.queryAll("""
            SELECT id, name, created_at, last_seen_at, revoked_at IS NOT NULL, acked_cursor
            FROM devices WHERE user_id = ? ORDER BY id
            """, [.integer(user.id.rawValue)]) {
            Device(id: DeviceID($0.int64(0)), user: user.id, name: $0.text(1), createdAt: $0.int64(2),
                   lastSeenAt: $0.optionalInt64(3), revoked: $0.bool(4), ackedCursor: $0.optionalText(5))
        }
    }

    /// The principal of a bearer token, or nil (unknown or revoked).
    /// A device's stream bookkeeping, read with its token by a pull start.
    public struct StreamState: Sendable {
        public let inboxHead: Int64
        public let inboxFloor: Int64
        public let ackedSeq: Int64
        public let ackedCursor: String?
    }

    /// `authenticate` plus what a pull checks its cursor against, in one statement.
    public static func authenticateForPull(_ db: any StoreReader, token: String) throws -> (Principal, StreamState)? {
        guard token.utf8.count <= 256 else { return nil }
        return try db.queryOne("""
            SELECT d.id, d.name, u.id, u.name, u.inbox_seq, u.inbox_floor, d.acked_seq, d.acked_cursor
            FROM devices d JOIN users u ON u.id = d.user_id
            WHERE d.token_hash = ? AND d.revoked_at IS NULL
            """, [.blob(Tokens.hash(token))]) {
            (Principal(user: UserID($0.int64(2)), userName: $0.text(3), device: DeviceID($0.int64(0)), deviceName: $0.text(1)),
             StreamState(inboxHead: $0.int64(4), inboxFloor: $0.int64(5), ackedSeq: $0.int64(6), ackedCursor: $0.optionalText(7)))
        }
    }

    public static func authenticate(_ db: any StoreReader, token: String) throws -> Principal? {
        guard token.utf8.count <= 256 else { return nil }
        return try db.queryOne("""
            SELECT d.id, d.name, u.id, u.name FROM devices d JOIN users u ON u.id = d.user_id
            WHERE d.token_hash = ? AND d.revoked_at IS NULL
            """, [.blob(Tokens.hash(token))]) {
            Principal(user: UserID($0.int64(2)), userName: $0.text(3), device: DeviceID($0.int64(0)), deviceName: $0.text(1))
        }
    }
}
