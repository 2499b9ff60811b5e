/// One message, in the one shape it has everywhere (send, pull, preview, history), as it
/// is now: edited, reacted to, or a tombstone (docs/message-changes.md).
public struct Message: Sendable, Equatable {
    public let id: MessageID
    public let room: RoomID
    public let seq: Int64
    public let sender: String
    public let senderDevice: DeviceID?
    public let clientMsgID: String
    /// The client's JSON value, serialized compactly; empty for a tombstone (the text is
    /// erased from storage).
    public let body: String
    public let sentAt: Int64
    /// When it was last edited, and how many times (0: never).
    public var editedAt: Int64?
    public var editCount: Int
    /// A recall: the message is a tombstone (no body, no edits, no reactions).
    public var deletedAt: Int64?
    /// Every change (edit, recall, reaction added or removed) adds one: of two copies,
    /// the higher version is newer.
    public var version: Int
    /// Counts per key, ordered by key's bytes; `me` as the reader sees it.
    public var reactions: [ReactionCount]
    /// Set when this copy is what a change event carries: which change, at which room seq.
    public var change: MessageChange?

    public var isDeleted: Bool { deletedAt != nil }

    /// Memberwise (public: backends construct it).
    public init(id: MessageID, room: RoomID, seq: Int64, sender: String, senderDevice: DeviceID?, clientMsgID: String,
                body: String, sentAt: Int64, editedAt: Int64? = nil, editCount: Int = 0, deletedAt: Int64? = nil,
                version: Int = 0, reactions: [ReactionCount] = [], change: MessageChange? = nil) {
        self.id = id
        self.room = room
        self.seq = seq
        self.sender = sender
        self.senderDevice = senderDevice
        self.clientMsgID = clientMsgID
        self.body = body
        self.sentAt = sentAt
        self.editedAt = editedAt
        self.editCount = editCount
        self.deletedAt = deletedAt
        self.version = version
        self.reactions = reactions
        self.change = change
    }
}

/// One reaction key on a message: how many members reacted with it, and whether the
/// reader is one of them.
public struct ReactionCount: Sendable, Equatable {
    public let key: String
    public let count: Int
    public let me: Bool

    public init(key: String, count: Int, me: Bool) {
        self.key = key
        self.count = count
        self.me = me
    }
}

/// A change row of a room's stream: its kind and its own room seq.
public struct MessageChange: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case edit, delete, reactions
    }

    public let kind: Kind
    public let seq: Int64

    public init(kind: Kind, seq: Int64) {
        self.kind = kind
        self.seq = seq
    }
}

public struct SendResult: Sendable {
    public let message: Message
    public let duplicate: Bool
}

public struct HistoryPage: Sendable {
    public let messages: [Message]
    public let nextBefore: Int64?
}
