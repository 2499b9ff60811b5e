import JSON

public struct User: Sendable, Equatable {
    public let id: UserID
    public let name: String
    public let createdAt: Int64
}

public struct Device: Sendable, Equatable {
    public let id: DeviceID
    public let user: UserID
    public let name: String
    public let createdAt: Int64
    public let lastSeenAt: Int64?
    public let revoked: Bool
    public let ackedCursor: String?
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
}

public struct Member: Sendable, Equatable {
    public let user: UserID
    public let name: String
    public let role: String
    public let joinedSeq: Int64
    public let readSeq: Int64
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
}

public struct PullResult: Sendable {
    public let events: [Event]
    public let cursor: Cursor
    public let hasMore: Bool
    /// With `per_room_limit`: rooms whose older messages in the range were left out;
    /// the client pages history below `beforeSeq`.
    public let gaps: [(room: RoomID, beforeSeq: Int64)]
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
