import JSON

/// The device's side of sync: the first-screen cursor, pulls and acks.
extension TestDevice {
    /// The sync cursor of `GET /v1/conversations` (taken with the list, so a pull from
    /// it misses nothing and repeats nothing).
    func conversationsCursor() throws -> String {
        let r = try get("/v1/conversations")
        guard r.status == 200, let c = r.json["cursor"]?.stringValue else { throw TestFailure("conversations: \(r.status) \(r.text)") }
        return c
    }

    /// One `GET /v1/sync` with `timeout=0` (answers at once).
    func pull(_ cursor: String, limit: Int? = nil, perRoomLimit: Int? = nil) throws -> HTTPTestResponse {
        var path = "/v1/sync?cursor=\(cursor)&timeout=0"
        if let limit { path += "&limit=\(limit)" }
        if let perRoomLimit { path += "&per_room_limit=\(perRoomLimit)" }
        return try get(path)
    }

    /// Pulls page after page until `has_more` is false; returns every event, the final
    /// cursor and the `has_more` flag of each page.
    func pullAll(from cursor: String, limit: Int = 100) throws -> (events: [JSONValue], cursor: String, hasMore: [Bool]) {
        var cursor = cursor
        var events: [JSONValue] = []
        var flags: [Bool] = []
        while flags.count < 10_000 {
            let r = try pull(cursor, limit: limit)
            guard r.status == 200, let next = r.json["cursor"]?.stringValue, let more = r.json["has_more"]?.boolValue else {
                throw TestFailure("pull: \(r.status) \(r.text)")
            }
            events += r.json["events"]?.array ?? []
            flags.append(more)
            cursor = next
            if !more { break }
        }
        return (events, cursor, flags)
    }

    /// `POST /v1/sync/ack`.
    func ack(_ cursor: String) throws -> HTTPTestResponse { try post("/v1/sync/ack", ["cursor": .string(cursor)]) }
}

/// A message event reduced to what the tests compare.
struct ReceivedMessage: Equatable, CustomStringConvertible {
    let room: Int64
    let seq: Int64
    let sender: String
    let clientMsgID: String
    let text: String

    var description: String { "\(room)#\(seq) \(sender) \(clientMsgID) \(text)" }

    /// The `message` events of a stream, in stream order.
    static func from(_ events: [JSONValue]) -> [ReceivedMessage] {
        events.compactMap { e in
            guard e["type"]?.stringValue == "message", let m = e["message"] else { return nil }
            return ReceivedMessage(m)
        }
    }

    /// From a message object (send response, event, preview, history).
    init?(_ m: JSONValue) {
        guard let room = m["room_id"]?.int64Value, let seq = m["seq"]?.int64Value, let sender = m["sender"]?.stringValue,
              let id = m["client_msg_id"]?.stringValue else { return nil }
        self.room = room
        self.seq = seq
        self.sender = sender
        self.clientMsgID = id
        self.text = m["body"]?["text"]?.stringValue ?? ""
    }
}
