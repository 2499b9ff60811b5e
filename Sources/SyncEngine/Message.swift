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

public struct SendResult: Sendable {
    public let message: Message
    public let duplicate: Bool
}

public struct HistoryPage: Sendable {
    public let messages: [Message]
    public let nextBefore: Int64?
}
