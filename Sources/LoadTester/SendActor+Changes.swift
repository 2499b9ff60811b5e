import HTTPClient
import JSON

/// The `--changes` mode's operations (docs/message-changes.md): an edit with a new body,
/// a recall, a reaction added or removed. Each is one request on the sender's
/// connection, with the token of the user the send would have gone out as; its answer
/// goes to the `ChangeBoard`. Like a send's, a refused one (a `429` too) is counted and
/// not repeated: the next operation follows.
extension SendActor {
    /// The change the n-th operation makes instead of a send, if its roll says so and
    /// something fits; deterministic in (slot, n) but for which messages were acknowledged.
    func chooseChange(room: Int64, user: Int) -> ChangeBoard.Operation? {
        guard let board, changes > 0 else { return nil }
        let h = LoadPlan.mix(LoadPlan.mix(UInt64(slot) << 32 | UInt64(n)))
        guard Double(h >> 11) / Double(1 << 53) < changes else { return nil }
        return board.choose(room: room, user: user, roll: LoadPlan.mix(h))
    }

    func change(_ op: ChangeBoard.Operation) {
        let method: String, path: String, what: String, user: Int
        var body: [UInt8]? = nil
        switch op {
        case .edit(let m, let u):
            (method, path, what, user) = ("PATCH", "/v1/rooms/\(m.room)/messages/\(m.seq)", "edit", u)
            body = (["body": ["n": .int(n), "slot": .int(slot), "edit": true]] as JSONValue).serialized()
        case .recall(let m, let u):
            (method, path, what, user) = ("DELETE", "/v1/rooms/\(m.room)/messages/\(m.seq)", "recall", u)
        case .react(let m, let u, let key, let add):
            (method, path, what, user) = (add ? "PUT" : "DELETE",
                                          "/v1/rooms/\(m.room)/messages/\(m.seq)/reactions/\(LoadTest.percentEncoded(key))",
                                          add ? "react" : "unreact", u)
        }
        var headers = [("Authorization", "Bearer \(tokens[user])")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let room: Int64 = switch op {
        case .edit(let m, _), .recall(let m, _), .react(let m, _, _, _): m.room
        }
        connection(room: room).request(method, path, headers: headers, body: body, timeout: .seconds(30)) { [self] result in
            switch result {
            case .success(let r) where r.status == 200:
                board?.finished(op, .applied, error: nil)
            case .success(let r):
                // A 5xx may have been made before it failed; a 4xx (and a 429) was not.
                board?.finished(op, r.status >= 500 ? .unknown : .refused, error: what + " " + LoadTest.errorKey(r))
            case .failure(let f):
                board?.finished(op, .unknown, error: "\(what) 0 \(f)")
            }
            next()
        }
    }
}
