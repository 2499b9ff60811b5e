import JSON

/// Reads a `GET /v1/sync` answer for the load tester without building a JSON tree.
///
/// The generator shares the machine with the server, so what it spends per delivered
/// message is taken from the server it measures: a hot room at 2,500 msg/s with 50
/// devices is 125,000 message events a second to read. This checks the whole body's
/// JSON grammar (RFC 8259, as strictly as `JSONParser` except that numbers it does not
/// keep are only checked for their characters) but materializes only what the
/// verifier needs: `cursor`, `has_more`, and for each event of type `message` the
/// message's `id`, `room_id` and `seq`. Keys may come in any order. With `keepStates`
/// (the load test's `--changes` mode) it also keeps every copy of a message that an
/// event carries (`message`, `edit`, `delete`, `reactions`: docs/message-changes.md),
/// with the fields that say which state it is in (`MessageState`).
struct SyncPageScanner {
    struct Page: Equatable {
        var cursor: String?
        var hasMore = false
        /// Events of every type.
        var eventCount = 0
        var messages: [(room: Int64, seq: Int64, id: Int64)] = []
        /// With `keepStates`: every event that carries a message, in page order.
        var copies: [Copy] = []

        static func == (a: Page, b: Page) -> Bool {
            a.cursor == b.cursor && a.hasMore == b.hasMore && a.eventCount == b.eventCount && a.copies == b.copies
                && a.messages.elementsEqual(b.messages) { $0.room == $1.room && $0.seq == $1.seq && $0.id == $1.id }
        }
    }

    /// One copy of a message, from an event (or a history page).
    struct Copy: Equatable, Sendable {
        enum Kind: String, Sendable { case message, edit, delete, reactions }
        let kind: Kind
        let room: Int64
        /// The event's own seq: the message's for `message`, the change's for the others.
        let seq: Int64
        let messageSeq: Int64
        let id: Int64
        let state: MessageState
    }

    /// A history page (`GET /v1/rooms/{id}/messages`): its messages as they are now.
    struct History: Equatable {
        var messages: [Copy] = []
        var nextBefore: Int64?
    }

    struct Invalid: Error {}

    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    /// Keep message states (`Page.copies`), not only message events' ids.
    let keepStates: Bool

    private init(_ b: UnsafeBufferPointer<UInt8>, keepStates: Bool) {
        self.b = b
        self.keepStates = keepStates
    }

    /// nil when the body is not valid JSON or not a sync page (no string `cursor`).
    static func scan(_ body: [UInt8], keepStates: Bool = false) -> Page? {
        body.withUnsafeBufferPointer { buf in
            var s = SyncPageScanner(buf, keepStates: keepStates)
            guard let page = try? s.page(), s.atEnd(), page.cursor != nil else { return nil }
            return page
        }
    }

    /// nil when the body is not valid JSON or not a history page (no `messages` array).
    static func scanHistory(_ body: [UInt8]) -> History? {
        body.withUnsafeBufferPointer { buf in
            var s = SyncPageScanner(buf, keepStates: true)
            guard let page = try? s.history(), s.atEnd() else { return nil }
            return page
        }
    }

    // MARK: the shapes we keep

    private mutating func page() throws -> Page {
        var page = Page()
        try object { s, key in
            switch key {
            case "cursor": page.cursor = try s.string()
            case "has_more": page.hasMore = try s.bool()
            case "events":
                try s.array { s in
                    page.eventCount += 1
                    guard let e = try s.event() else { return }
                    if e.kind == .message { page.messages.append((e.room, e.messageSeq, e.id)) }
                    if s.keepStates { page.copies.append(e) }
                }
            default: try s.skipValue()
            }
        }
        return page
    }

    private mutating func history() throws -> History {
        var page = History()
        var sawMessages = false
        try object { s, key in
            switch key {
            case "messages":
                sawMessages = true
                try s.array { s in
                    let m = try s.message()
                    guard let room = m.room, let seq = m.seq, let id = m.id else { throw Invalid() }
                    page.messages.append(Copy(kind: .message, room: room, seq: seq, messageSeq: seq, id: id, state: m.state))
                }
            case "next_before": page.nextBefore = try s.integer()
            default: try s.skipValue()
            }
        }
        guard sawMessages else { throw Invalid() }
        return page
    }

    /// An event that carries a message (nil for other types, or without id/room/seq).
    private mutating func event() throws -> Copy? {
        var type: String?
        var room: Int64?, seq: Int64?
        var m: Message?
        try object { s, key in
            switch key {
            case "type": type = try s.string()
            case "room_id": room = try s.integer()
            case "seq": seq = try s.integer()
            case "message": m = try s.message()
            default: try s.skipValue()
            }
        }
        guard let type, let kind = Copy.Kind(rawValue: type), let m, let mRoom = m.room, let mSeq = m.seq, let id = m.id else {
            return nil
        }
        // A message event's place is its message's seq; a change has a seq of its own.
        return Copy(kind: kind, room: kind == .message ? mRoom : (room ?? mRoom),
                    seq: kind == .message ? mSeq : (seq ?? mSeq), messageSeq: mSeq, id: id, state: m.state)
    }
}
