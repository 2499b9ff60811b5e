import JSON

/// Reads a `GET /v1/sync` answer for the load tester without building a JSON tree.
///
/// The generator shares the machine with the server, so what it spends per delivered
/// message is taken from the server it measures: a hot room at 2,500 msg/s with 50
/// devices is 125,000 message events a second to read. This checks the whole body's
/// JSON grammar (RFC 8259, as strictly as `JSONParser` except that numbers it does not
/// keep are only checked for their characters) but materializes only what the
/// verifier needs: `cursor`, `has_more`, and for each event of type `message` the
/// message's `id`, `room_id` and `seq`. Keys may come in any order.
struct SyncPageScanner {
    struct Page: Equatable {
        var cursor: String?
        var hasMore = false
        /// Events of every type.
        var eventCount = 0
        var messages: [(room: Int64, seq: Int64, id: Int64)] = []

        static func == (a: Page, b: Page) -> Bool {
            a.cursor == b.cursor && a.hasMore == b.hasMore && a.eventCount == b.eventCount
                && a.messages.elementsEqual(b.messages) { $0.room == $1.room && $0.seq == $1.seq && $0.id == $1.id }
        }
    }

    struct Invalid: Error {}

    let b: UnsafeBufferPointer<UInt8>
    var i = 0

    private init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    /// nil when the body is not valid JSON or not a sync page (no string `cursor`).
    static func scan(_ body: [UInt8]) -> Page? {
        body.withUnsafeBufferPointer { buf in
            var s = SyncPageScanner(buf)
            guard let page = try? s.page(), s.atEnd(), page.cursor != nil else { return nil }
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
                    if let m = try s.event() { page.messages.append(m) }
                }
            default: try s.skipValue()
            }
        }
        return page
    }

    private mutating func event() throws -> (room: Int64, seq: Int64, id: Int64)? {
        var isMessage = false
        var found: (room: Int64, seq: Int64, id: Int64)? = nil
        try object { s, key in
            switch key {
            case "type": isMessage = try s.string() == "message"
            case "message":
                var room: Int64?, seq: Int64?, id: Int64?
                try s.object { s, key in
                    switch key {
                    case "id": id = try s.integer()
                    case "room_id": room = try s.integer()
                    case "seq": seq = try s.integer()
                    default: try s.skipValue()
                    }
                }
                if let room, let seq, let id { found = (room, seq, id) }
            default: try s.skipValue()
            }
        }
        return isMessage ? found : nil
    }
}
