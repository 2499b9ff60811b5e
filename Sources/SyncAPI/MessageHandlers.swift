import HTTPServer
import JSON
import SyncEngine

/// `/v1/rooms/{id}/messages`: sending (idempotent by `client_msg_id`: a resend answers
/// 200 with the original) and history (paged by `before`).
struct MessageHandlers {
    enum Route: Equatable, Sendable {
        case send(RoomID)
        case history(RoomID)
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .send(let id):
            try api.authenticated(input, responder) { me in try send(id, input, me, responder) }
        case .history(let id): try history(id, input, responder)
        }
    }

    /// The send bucket is taken before the body is looked at: a flood of bad requests
    /// is limited too.
    private func send(_ id: RoomID, _ input: RequestInput, _ me: Principal, _ responder: Responder) throws {
        try api.takeSend(me.device)
        let body = try input.object()
        let clientMsgID = try RequestInput.string(body, "client_msg_id")
        guard let value = body["body"] else { throw APIError.invalid("body", "is required") }
        let text = value.serializedString
        let limit = api.engine.config.maxMessageBodyBytes
        let bucket = api.sharedSendBucket(me.device)
        api.write(responder, room: id, {
            try Messages.send($0, me: me, room: id, clientMsgID: clientMsgID, body: text, maxBodyBytes: limit, bucket: bucket)
        }) { r in
            json(r.duplicate ? .ok : .created) { w in
                Encode.message(r.message, &w) { $0.field("duplicate", r.duplicate) }
            }
        }
    }

    /// `before` and `limit` are checked before the token (a bad one costs no read).
    private func history(_ id: RoomID, _ input: RequestInput, _ responder: Responder) throws {
        let config = api.engine.config
        let before = try input.queryInt("before", default: nil, range: 1...Int.max).map(Int64.init)
        let limit = try input.queryInt("limit", default: config.defaultHistoryLimit, range: 1...config.maxHistoryLimit)!
        try api.authedRead(input, responder, { ctx, me in
            try Messages.history(ctx, me: me.user, room: id, before: before, limit: limit)
        }) { page in
            json(.ok) { w in
                w.object { w in
                    w.key("messages"); w.array { w in for m in page.messages { Encode.message(m, &w) } }
                    if let nb = page.nextBefore { w.field("next_before", nb) }
                }
            }
        }
    }
}
