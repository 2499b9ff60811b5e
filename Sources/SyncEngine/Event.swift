import JSON

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
