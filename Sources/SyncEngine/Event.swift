import JSON

public enum EventKind: String, Sendable {
    case message, read, member, receipts
    /// Changes to a message (docs/message-changes.md): never stored as an inbox kind (a
    /// change is a room-stream row, its inbox row is a `message` row); a pull names the
    /// event by the change the row is.
    case edit, delete, reactions

    /// A room-stream row's event: `message`, or the change it is.
    public init(_ change: MessageChange?) {
        switch change?.kind {
        case nil: self = .message
        case .edit?: self = .edit
        case .delete?: self = .delete
        case .reactions?: self = .reactions
        }
    }
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

    /// Nothing to show and nothing more to read: the pull is at the head, and a pull that
    /// may wait goes on waiting. (Its cursor may still differ from the one pulled from by
    /// hot rooms joined since, at their join points: the same position.) A page that is
    /// empty but has more to read, past pruned rows, is not: it is answered, so the client
    /// pulls on from its cursor.
    public var caughtUp: Bool { events.isEmpty && gaps.isEmpty && !hasMore }
}
