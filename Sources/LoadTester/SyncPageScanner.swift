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

    private struct Invalid: Error {}

    private let b: UnsafeBufferPointer<UInt8>
    private var i = 0

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

    // MARK: grammar

    private mutating func ws() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
    }

    private mutating func atEnd() -> Bool {
        ws()
        return i == b.count
    }

    private mutating func expect(_ c: UInt8) throws {
        ws()
        guard i < b.count, b[i] == c else { throw Invalid() }
        i += 1
    }

    private mutating func object(_ member: (inout SyncPageScanner, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        ws()
        if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return }
        while true {
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try member(&self, key)
            ws()
            guard i < b.count else { throw Invalid() }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return }
            throw Invalid()
        }
    }

    private mutating func array(_ element: (inout SyncPageScanner) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        ws()
        if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return }
        while true {
            try element(&self)
            ws()
            guard i < b.count else { throw Invalid() }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return }
            throw Invalid()
        }
    }

    private mutating func skipValue() throws {
        ws()
        guard i < b.count else { throw Invalid() }
        switch b[i] {
        case UInt8(ascii: "{"): try object { s, _ in try s.skipValue() }
        case UInt8(ascii: "["): try array { s in try s.skipValue() }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try skipNumber()
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw Invalid() }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw Invalid() }
        i += n
    }

    private mutating func bool() throws -> Bool {
        ws()
        if i < b.count, b[i] == UInt8(ascii: "t") { try literal("true"); return true }
        try literal("false")
        return false
    }

    /// A JSON integer (the ids and seqs are integers; anything else is invalid here).
    private mutating func integer() throws -> Int64 {
        ws()
        let negative = i < b.count && b[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let start = i
        var v: Int64 = 0
        while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(b[i] - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw Invalid() }
            v = a
            i += 1
        }
        guard i > start, !(i - start > 1 && b[start] == UInt8(ascii: "0")) else { throw Invalid() }
        return negative ? -v : v
    }

    private mutating func skipNumber() throws {
        let start = i
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        let digits = i
        while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
        guard i > digits, !(i - digits > 1 && b[digits] == UInt8(ascii: "0")) else { throw Invalid() }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let f = i
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > f else { throw Invalid() }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            let e = i
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > e else { throw Invalid() }
        }
        guard i > start else { throw Invalid() }
    }

    /// Scans a string; returns the range of its raw content and whether it had escapes.
    private mutating func rawString() throws -> (Range<Int>, escaped: Bool) {
        try expect(UInt8(ascii: "\""))
        let start = i
        var escaped = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return (start..<(i - 1), escaped)
            }
            if c < 0x20 { throw Invalid() }
            if c == UInt8(ascii: "\\") {
                escaped = true
                guard i + 1 < b.count else { throw Invalid() }
                switch b[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 5 < b.count else { throw Invalid() }
                    for k in 2...5 where !(b[i + k].isASCIIHexDigit) { throw Invalid() }
                    i += 6
                default:
                    throw Invalid()
                }
                continue
            }
            i += 1
        }
        throw Invalid()
    }

    private mutating func skipString() throws {
        let (range, _) = try rawString()
        guard String(validating: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self) != nil else { throw Invalid() }
    }

    /// Keys and the cursor: never escaped in what the server writes; escaped ones are
    /// decoded by the full parser instead of here.
    private mutating func string() throws -> String {
        let (range, escaped) = try rawString()
        if escaped {
            var quoted: [UInt8] = [UInt8(ascii: "\"")]
            quoted += b[range]
            quoted.append(UInt8(ascii: "\""))
            guard let s = (try? JSONParser.parse(quoted))?.stringValue else { throw Invalid() }
            return s
        }
        guard let s = String(validating: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self) else { throw Invalid() }
        return s
    }
}

private extension UInt8 {
    var isASCIIHexDigit: Bool {
        (self >= 0x30 && self <= 0x39) || (self >= 0x41 && self <= 0x46) || (self >= 0x61 && self <= 0x66)
    }
}
