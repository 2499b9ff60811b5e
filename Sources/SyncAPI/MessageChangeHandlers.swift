import HTTPServer
import JSON
import SyncEngine

/// `/v1/rooms/{id}/messages/{seq}` and its `reactions/{key}`: edits, recalls and
/// reactions (docs/message-changes.md). Each answers with the message as it is after the
/// change; repeating one answers the same and writes nothing. They take their token from
/// the device's message bucket, like sends, before the body is looked at.
struct MessageChangeHandlers {
    enum Route: Equatable, Sendable {
        case edit(RoomID, seq: Int64)
        case recall(RoomID, seq: Int64)
        case react(RoomID, seq: Int64, key: String)
        case unreact(RoomID, seq: Int64, key: String)
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        try api.authenticated(input, responder) { me in
            try api.takeSend(me.device)
            let bucket = api.sharedSendBucket(me.device)
            switch route {
            case .edit(let room, let seq):
                let body = try input.object()
                guard let value = body["body"] else { throw APIError.invalid("body", "is required") }
                let text = value.serializedString
                let limit = api.engine.config.maxMessageBodyBytes
                answer(room, responder) {
                    try MessageChanges.edit($0, me: me, room: room, seq: seq, body: text, maxBodyBytes: limit, bucket: bucket)
                }
            case .recall(let room, let seq):
                let store = api.engine.store
                api.write(responder, room: room, { try MessageChanges.recall($0, me: me, room: room, seq: seq, bucket: bucket) }) { r in
                    // The text is gone from the rows; now from the files (soon, off this
                    // thread, scrubs coalesced). A repeat erased nothing: no scrub.
                    if r.erased { store.scrubErasedText() }
                    return json(.ok) { Encode.message(r.message, &$0) }
                }
            case .react(let room, let seq, let key):
                answer(room, responder) { try MessageChanges.react($0, me: me, room: room, seq: seq, key: key, add: true, bucket: bucket) }
            case .unreact(let room, let seq, let key):
                answer(room, responder) { try MessageChanges.react($0, me: me, room: room, seq: seq, key: key, add: false, bucket: bucket) }
            }
        }
    }

    private func answer(_ room: RoomID, _ responder: Responder, _ unit: @escaping @Sendable (WriteContext) throws -> Message) {
        api.write(responder, room: room, unit) { m in json(.ok) { Encode.message(m, &$0) } }
    }
}
