import JSON

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

/// One message, in the one shape it has everywhere (send, pull, preview, history).
public struct Message: Sendable, Equatable {
    public let id: MessageID
    public let room: RoomID
    public let seq: Int64
    public let sender: String
    public let senderDevice: DeviceID?
    public let clientMsgID: String
    /// The client's JSON value, serialized compactly.
    public let body: String
    public let sentAt: Int64

    /// Memberwise (public: backends construct it).
    public init(id: MessageID, room: RoomID, seq: Int64, sender: String, senderDevice: DeviceID?, clientMsgID: String, body: String, sentAt: Int64) {
        self.id = id
        self.room = room
        self.seq = seq
        self.sender = sender
        self.senderDevice = senderDevice
        self.clientMsgID = clientMsgID
        self.body = body
        self.sentAt = sentAt
    }
}

public enum EventKind: String, Sendable {
    case message, read, member, receipts
}

/// One entry of a user's stream.
public struct Event: Sendable {
    public let kind: EventKind
    public let room: RoomID?
    public let message: Message?
    /// Extra fields of non-message events (e.g. `read_seq`, `action`), already JSON.
    public let payload: JSONValue?

    public init(kind: EventKind, room: RoomID?, message: Message?, payload: JSONValue?) {
        self.kind = kind
        self.room = room
        self.message = message
        self.payload = payload
    }
}

public struct PullResult: Sendable {
    public let events: [Event]
    public let cursor: Cursor
    public let hasMore: Bool
    /// With `per_room_limit`: rooms whose older messages in the range were left out;
    /// the client pages history below `beforeSeq`.
    public let gaps: [(room: RoomID, beforeSeq: Int64)]

    public init(events: [Event], cursor: Cursor, hasMore: Bool, gaps: [(room: RoomID, beforeSeq: Int64)]) {
        self.events = events
        self.cursor = cursor
        self.hasMore = hasMore
        self.gaps = gaps
    }
}

public struct Conversation: Sendable {
    public let room: Room
    public let peer: String?
    public let readSeq: Int64
    public let lastActiveAt: Int64
    public let preview: [Message]
    public var unread: Int64 { max(0, room.lastSeq - readSeq) }
}

public struct ConversationPage: Sendable {
    public let conversations: [Conversation]
    public let nextPage: String?
    public let cursor: Cursor
}

public struct SendResult: Sendable {
    public let message: Message
    public let duplicate: Bool
}

public struct HistoryPage: Sendable {
    public let messages: [Message]
    public let nextBefore: Int64?
}
