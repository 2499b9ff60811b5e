import JSON

/// JSON's grammar (RFC 8259) as the scanner walks it: whitespace, objects, arrays,
/// literals, numbers and strings, each checked as strictly as `JSONParser` checks it.
extension SyncPageScanner {
    mutating func ws() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
    }

    mutating func atEnd() -> Bool {
        ws()
        return i == b.count
    }

    mutating func expect(_ c: UInt8) throws {
        ws()
        guard i < b.count, b[i] == c else { throw Invalid() }
        i += 1
    }

    mutating func object(_ member: (inout SyncPageScanner, String) throws -> Void) throws {
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

    mutating func array(_ element: (inout SyncPageScanner) throws -> Void) throws {
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

    mutating func skipValue() throws {
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

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw Invalid() }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw Invalid() }
        i += n
    }

    mutating func bool() throws -> Bool {
        ws()
        if i < b.count, b[i] == UInt8(ascii: "t") { try literal("true"); return true }
        try literal("false")
        return false
    }

    /// A JSON integer (the ids and seqs are integers; anything else is invalid here).
    mutating func integer() throws -> Int64 {
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

    mutating func skipNumber() throws {
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
    mutating func rawString() throws -> (Range<Int>, escaped: Bool) {
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

    mutating func skipString() throws {
        let (range, _) = try rawString()
        guard String(validating: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self) != nil else { throw Invalid() }
    }

    /// Keys and the cursor: never escaped in what the server writes; escaped ones are
    /// decoded by the full parser instead of here.
    mutating func string() throws -> String {
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
