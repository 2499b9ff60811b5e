public enum RoomKind: String, Sendable {
    case direct, group
}

public struct Room: Sendable, Equatable {
    public let id: RoomID
    public let kind: RoomKind
    public let name: String?
    public let lastSeq: Int64
    public let lastActiveAt: Int64
    public let memberCount: Int
    public let createdAt: Int64
    /// Read diffusion: messages are stored once and merged at pull time.
    public let hot: Bool

    /// Memberwise (public: backends construct it).
    public init(id: RoomID, kind: RoomKind, name: String?, lastSeq: Int64, lastActiveAt: Int64, memberCount: Int, createdAt: Int64, hot: Bool) {
        self.id = id
        self.kind = kind
        self.name = name
        self.lastSeq = lastSeq
        self.lastActiveAt = lastActiveAt
        self.memberCount = memberCount
        self.createdAt = createdAt
        self.hot = hot
    }
}

public struct Member: Sendable, Equatable {
    public let user: UserID
    public let name: String
    public let role: String
    public let joinedSeq: Int64
    public let readSeq: Int64

    /// Memberwise (public: backends construct it).
    public init(user: UserID, name: String, role: String, joinedSeq: Int64, readSeq: Int64) {
        self.user = user
        self.name = name
        self.role = role
        self.joinedSeq = joinedSeq
        self.readSeq = readSeq
    }
}
