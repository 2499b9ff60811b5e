public struct Conversation: Sendable {
    public let room: Room
    public let peer: String?
    public let readSeq: Int64
    public let lastActiveAt: Int64
    public let preview: [Message]
    /// The messages above the read marker, tombstones included; changes never count
    /// (docs/message-changes.md, "Unread and previews").
    public let unread: Int64
}

public struct ConversationPage: Sendable {
    public let conversations: [Conversation]
    public let nextPage: String?
    public let cursor: Cursor
}
