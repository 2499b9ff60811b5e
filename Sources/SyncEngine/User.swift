public struct User: Sendable, Equatable {
    public let id: UserID
    public let name: String
    public let createdAt: Int64

    /// Memberwise (public: backends construct it).
    public init(id: UserID, name: String, createdAt: Int64) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

public struct Device: Sendable, Equatable {
    public let id: DeviceID
    public let user: UserID
    public let name: String
    public let createdAt: Int64
    public let lastSeenAt: Int64?
    public let revoked: Bool
    public let ackedCursor: String?

    /// Memberwise (public: backends construct it).
    public init(id: DeviceID, user: UserID, name: String, createdAt: Int64, lastSeenAt: Int64?, revoked: Bool, ackedCursor: String?) {
        self.id = id
        self.user = user
        self.name = name
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.revoked = revoked
        self.ackedCursor = ackedCursor
    }
}
