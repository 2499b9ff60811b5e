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
