import HTTPServer
import JSON
import SyncEngine

/// The first screen: `/v1/conversations` (the conversation list with previews and a
/// cursor), `/v1/unread`, read markers (`/v1/rooms/{id}/read`) and read receipts
/// (`/v1/rooms/{id}/receipts`). Query parameters are checked before the token.
struct ConversationHandlers {
    enum Route: Equatable, Sendable {
        case list
        case unread
        case markRead(RoomID)
        case receipts(RoomID)
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .list: try list(input, responder)
        case .unread: try unread(input, responder)
        case .markRead(let id):
            try api.authenticated(input, responder) { me in try markRead(id, input, me, responder) }
        case .receipts(let id): try receipts(id, input, responder)
        }
    }

    private func list(_ input: RequestInput, _ responder: Responder) throws {
        let config = api.engine.config
        let limit = try input.queryInt("limit", default: config.defaultConversationLimit, range: 1...config.maxConversationLimit)!
        let preview = try input.queryInt("preview", default: 3, range: 0...config.maxPreview)!
        let pageToken = input.queryString("page")
        try api.authedRead(input, responder, { ctx, me in
            try Conversations.list(ctx, me: me.user, limit: limit, preview: preview, page: pageToken)
        }) { page in
            json(.ok) { Encode.conversations(page, &$0) }
        }
    }

    private func unread(_ input: RequestInput, _ responder: Responder) throws {
        try api.authedRead(input, responder, { ctx, me in try Conversations.unread(ctx, me: me.user) }) { total, rooms in
            json(.ok) { w in
                w.object { w in
                    w.field("total", total)
                    w.key("rooms")
                    w.array { w in
                        for (room, n) in rooms { w.object { w in w.field("room_id", room.rawValue); w.field("unread", n) } }
                    }
                }
            }
        }
    }

    /// Read markers only move forward; the answer is where the marker is now.
    private func markRead(_ id: RoomID, _ input: RequestInput, _ me: Principal, _ responder: Responder) throws {
        let seq = try RequestInput.int(try input.object(), "seq")
        api.write(responder, room: id, { try Conversations.markRead($0, me: me, room: id, seq: seq) }) { readSeq in
            json(.ok) { w in w.object { w in w.field("room_id", id.rawValue); w.field("read_seq", readSeq) } }
        }
    }

    private func receipts(_ id: RoomID, _ input: RequestInput, _ responder: Responder) throws {
        guard let seq = try input.queryInt("seq", default: nil, range: 1...Int.max) else {
            throw APIError.invalid("seq", "is required")
        }
        try api.authedRead(input, responder, { ctx, me in
            try Receipts.count(ctx, me: me.user, room: id, seq: Int64(seq))
        }) { c in
            json(.ok) { w in
                w.object { w in
                    w.field("room_id", c.room.rawValue)
                    w.field("seq", c.seq)
                    w.field("sender", c.sender)
                    w.field("read_count", c.readCount)
                    if let readers = c.readers {
                        w.key("readers")
                        w.array { w in for r in readers { w.string(r) } }
                    }
                }
            }
        }
    }
}
