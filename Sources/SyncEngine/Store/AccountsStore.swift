// Users, devices and tokens.

public protocol AccountsReads {
    /// The user called `name` (names are unique), or nil.
    func user(named name: String) throws -> User?

    /// All devices of `user`, revoked ones included, in creation order (ascending id).
    func devices(of user: UserID) throws -> [Device]

    /// The user a device belongs to, or nil if there is no such device (revoked or not).
    func deviceOwner(_ device: DeviceID) throws -> UserID?

    /// Whether the device exists and is not revoked.
    func deviceActive(_ device: DeviceID) throws -> Bool

    /// Devices revoked at or after `since` (milliseconds), with their users and when: a
    /// single-process server looks for revocations another process made
    /// (`SyncEngine`'s revocation sweep). An index on the revoked ones serves it.
    func revokedDevices(since: Int64) throws -> [(device: DeviceID, user: UserID, at: Int64)]

    /// Who holds the device token whose SHA-256 is `tokenHash`, or nil if no device has
    /// it or that device is revoked. One lookup by the unique token hash: this runs for
    /// every authenticated request.
    func principal(tokenHash: [UInt8]) throws -> Principal?

    /// `principal(tokenHash:)` plus the device's and user's stream bookkeeping, read in
    /// the same lookup (one statement) and so from the same snapshot: a pull checks its
    /// cursor against them.
    func principalForPull(tokenHash: [UInt8]) throws -> (Principal, Accounts.StreamState)?
}

public protocol AccountsWrites {
    /// Creates a user with an empty inbox (inbox seq 0) and returns its new id, or nil if
    /// the name is taken. Names are unique in the store (a unique constraint, not a read
    /// before the write), so of two concurrent creations of one name exactly one gets an
    /// id; the other gets nil and its unit of work stays usable.
    func insertUser(name: String, createdAt: Int64) throws -> UserID?

    /// Creates a device of `user` authenticated by the token whose SHA-256 is
    /// `tokenHash` (unique) and returns its new id. Ids are never reused.
    func insertDevice(user: UserID, name: String, tokenHash: [UInt8], createdAt: Int64) throws -> DeviceID

    /// Marks the device revoked at `at`, unless it already is; true if this call revoked
    /// it. From the commit on, its token no longer authenticates.
    func revokeDevice(_ device: DeviceID, at: Int64) throws -> Bool

    /// Stores a socket ticket of `device` (its SHA-256, unique) valid until `expiresAt`,
    /// and removes the device's tickets that expired before `now`.
    func insertSocketTicket(hash: [UInt8], device: DeviceID, expiresAt: Int64, now: Int64) throws

    /// Removes the ticket whose SHA-256 is `hash` and returns who it was for, if it had
    /// not expired at `now` and its device is not revoked: a ticket works once.
    func takeSocketTicket(hash: [UInt8], now: Int64) throws -> Principal?
}
