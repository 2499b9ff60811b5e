/// Users and devices: provisioning (admin) and token authentication.
public enum Accounts {
    public static func createUser(_ ctx: WriteContext, name: String) throws -> User {
        guard Validation.isValidName(name) else {
            throw SyncError.invalid(field: "name", reason: "1-64 characters of a-z, 0-9, '.', '_' or '-'")
        }
        guard let id = try ctx.store.insertUser(name: name, createdAt: ctx.now) else { throw SyncError.userExists(name) }
        return User(id: id, name: name, createdAt: ctx.now)
    }

    /// Creates a device and returns its bearer token: the only time the token exists
    /// outside the client (we keep its SHA-256).
    public static func createDevice(_ ctx: WriteContext, userName: String, deviceName: String) throws -> (Device, token: String) {
        guard Validation.isValidDisplayName(deviceName, max: 64) else {
            throw SyncError.invalid(field: "name", reason: "1-64 characters, at least one visible, no control characters")
        }
        guard let user = try user(ctx.store, named: userName) else { throw SyncError.userNotFound(userName) }
        // An erased user stays erased: a new device would let them speak again.
        guard try ctx.store.erasure(user: user.id) == nil else {
            throw SyncError.forbidden("\(userName) was erased (DELETE /v1/admin/users/{name}); the name stays taken")
        }
        let token = try Tokens.newDeviceToken()
        let id = try ctx.store.insertDevice(user: user.id, name: deviceName, tokenHash: Tokens.hash(token), createdAt: ctx.now)
        let device = Device(id: id, user: user.id, name: deviceName, createdAt: ctx.now,
                            lastSeenAt: nil, revoked: false, ackedCursor: nil)
        return (device, token)
    }

    /// Revokes a device: its token stops authenticating at once (the next request is 401).
    /// Its open WebSockets are closed and its parked pulls answered 401 (after the commit).
    public static func revokeDevice(_ ctx: WriteContext, id: DeviceID) throws {
        guard let user = try ctx.store.deviceOwner(id) else { throw SyncError.deviceNotFound }
        if try ctx.store.revokeDevice(id, at: ctx.now) { ctx.revoked[user, default: []].append(id) }
    }

    public static func user(_ db: any StoreReader, named name: String) throws -> User? {
        try db.user(named: name)
    }

    public static func devices(_ db: any StoreReader, userName: String) throws -> [Device] {
        guard let user = try user(db, named: userName) else { throw SyncError.userNotFound(userName) }
        return try db.devices(of: user.id)
    }

    /// A device's stream bookkeeping, read with its token by a pull start.
    public struct StreamState: Sendable {
        public let inboxHead: Int64
        public let inboxFloor: Int64
        public let ackedSeq: Int64
        public let ackedCursor: String?

        /// Memberwise (public: backends construct it).
        public init(inboxHead: Int64, inboxFloor: Int64, ackedSeq: Int64, ackedCursor: String?) {
            self.inboxHead = inboxHead
            self.inboxFloor = inboxFloor
            self.ackedSeq = ackedSeq
            self.ackedCursor = ackedCursor
        }
    }

    /// `authenticate` plus what a pull checks its cursor against, in one lookup.
    public static func authenticateForPull(_ db: any StoreReader, token: String) throws -> (Principal, StreamState)? {
        guard token.utf8.count <= 256 else { return nil }
        return try db.principalForPull(tokenHash: Tokens.hash(token))
    }

    /// How long a `/v1/notify` ticket works.
    public static let socketTicketMillis: Int64 = 30_000

    /// A ticket for opening one `/v1/notify` socket as `me` within `socketTicketMillis`:
    /// what a browser puts in the socket's URL instead of its long-lived device token
    /// (a URL ends up in proxy logs). Only its SHA-256 is stored.
    public static func issueSocketTicket(_ ctx: WriteContext, me: Principal) throws -> String {
        let ticket = try Tokens.newSocketTicket()
        try ctx.store.insertSocketTicket(hash: Tokens.hash(ticket), device: me.device,
                                         expiresAt: ctx.now + socketTicketMillis, now: ctx.now)
        return ticket
    }

    /// Spends a ticket: who it was issued to, if it is unexpired, unused and its device
    /// not revoked; nil otherwise. A ticket works once, on any node.
    public static func redeemSocketTicket(_ ctx: WriteContext, ticket: String) throws -> Principal? {
        guard ticket.utf8.count <= 256 else { return nil }
        return try ctx.store.takeSocketTicket(hash: Tokens.hash(ticket), now: ctx.now)
    }

    /// The principal of a bearer token, or nil (unknown or revoked).
    public static func authenticate(_ db: any StoreReader, token: String) throws -> Principal? {
        guard token.utf8.count <= 256 else { return nil }
        return try db.principal(tokenHash: Tokens.hash(token))
    }
}
