import JSON

/// One signed-in device: its bearer token and its own keep-alive connection. Every
/// request it makes carries its token.
final class TestDevice: @unchecked Sendable {   // confined like its HTTPTestClient
    let user: String
    let name: String
    let id: Int64
    let token: String
    let client: HTTPTestClient

    init(user: String, name: String, id: Int64, token: String, client: HTTPTestClient) {
        self.user = user
        self.name = name
        self.id = id
        self.token = token
        self.client = client
    }

    func get(_ path: String) throws -> HTTPTestResponse { try client.get(path, token: token) }
    func post(_ path: String, _ json: JSONValue) throws -> HTTPTestResponse { try client.post(path, json: json, token: token) }
    func post(_ path: String, raw: String) throws -> HTTPTestResponse { try client.post(path, raw: raw, token: token) }
    func delete(_ path: String) throws -> HTTPTestResponse { try client.delete(path, token: token) }

    /// The user id, from `GET /v1/me`.
    func userID() throws -> Int64 {
        let r = try get("/v1/me")
        guard r.status == 200, let id = r.json["user"]?["id"]?.int64Value else { throw TestFailure("me: \(r.status) \(r.text)") }
        return id
    }

    // MARK: rooms and messages

    /// Gets or creates the direct room with `other`; returns its id.
    func directRoom(with other: String) throws -> Int64 {
        let r = try post("/v1/direct/\(other)", raw: "")
        guard r.status == 200 || r.status == 201, let id = r.json["id"]?.int64Value else {
            throw TestFailure("direct \(user)->\(other): \(r.status) \(r.text)")
        }
        return id
    }

    /// Creates a group with `members` (besides the caller); returns its id.
    func createGroup(_ name: String, members: [String]) throws -> Int64 {
        let r = try post("/v1/rooms", ["name": .string(name), "members": .array(members.map { .string($0) })])
        guard r.status == 201, let id = r.json["id"]?.int64Value else { throw TestFailure("create group: \(r.status) \(r.text)") }
        return id
    }

    /// `POST /v1/rooms/{room}/messages` with body `{"text": text}`.
    func send(_ room: Int64, _ clientMsgID: String, _ text: String) throws -> HTTPTestResponse {
        try post("/v1/rooms/\(room)/messages", ["client_msg_id": .string(clientMsgID), "body": ["text": .string(text)]])
    }

    /// Sends and requires a 201; returns the message's room seq.
    @discardableResult
    func sendOK(_ room: Int64, _ clientMsgID: String, _ text: String) throws -> Int64 {
        let r = try send(room, clientMsgID, text)
        guard r.status == 201, let seq = r.json["seq"]?.int64Value else { throw TestFailure("send \(clientMsgID): \(r.status) \(r.text)") }
        return seq
    }

    /// All history of `room` visible to this device's user, paging backwards from
    /// `before` with `limit`; returns the messages oldest first and how many pages it took.
    func fullHistory(_ room: Int64, before: Int64? = nil, limit: Int) throws -> (messages: [JSONValue], pages: Int) {
        var before = before
        var pages: [[JSONValue]] = []
        while pages.count < 10_000 {
            var path = "/v1/rooms/\(room)/messages?limit=\(limit)"
            if let before { path += "&before=\(before)" }
            let r = try get(path)
            guard r.status == 200 else { throw TestFailure("history \(path): \(r.status) \(r.text)") }
            pages.append(r.json["messages"]?.array ?? [])
            guard let next = r.json["next_before"]?.int64Value else { break }
            before = next
        }
        return (pages.reversed().flatMap { $0 }, pages.count)
    }
}
