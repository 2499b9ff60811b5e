/// Percent-decoding of path segments and `application/x-www-form-urlencoded`-style
/// query strings (RFC 3986 §2.1). Invalid escapes or invalid UTF-8 give nil, which the
/// router turns into a 400 rather than guessing.
public enum URLEncoding {
    public static func percentDecode(_ s: Substring, plusAsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                guard !isControl(hv << 4 | lv) else { return nil }
                bytes.append(hv << 4 | lv)
            } else if plusAsSpace && b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Whether `parseQuery` accepts `query`, without building its items: routing checks
    /// every request's query, and a pull's (`cursor=...&wait=30`) is printable ASCII whose
    /// check needs no allocation. Anything else (a byte or an escape outside printable
    /// ASCII) takes `parseQuery` itself, so the two never disagree.
    public static func isValidQuery(_ query: String) -> Bool {
        var q = query
        let ascii = q.withUTF8 { buf -> Bool? in
            var i = 0
            while i < buf.count {
                let b = buf[i]
                if b == UInt8(ascii: "%") {
                    guard i + 2 < buf.count, let hv = hexValue(buf[i + 1]), let lv = hexValue(buf[i + 2]) else { return false }
                    guard (0x20...0x7E).contains(hv << 4 | lv) else { return nil }
                    i += 3
                } else {
                    guard (0x20...0x7E).contains(b) else { return nil }
                    i += 1
                }
            }
            return true
        }
        return ascii ?? (parseQuery(query) != nil)
    }

    /// `a=1&b=x%20y&flag` -> [("a","1"), ("b","x y"), ("flag","")]; nil if any part is malformed.
    public static func parseQuery(_ query: String) -> [(name: String, value: String)]? {
        var q = query
        return q.withUTF8 { parseQuery($0) }
    }

    static func parseQuery(_ buf: UnsafeBufferPointer<UInt8>) -> [(name: String, value: String)]? {
        var items: [(name: String, value: String)] = []
        let amp = UInt8(ascii: "&"), eq = UInt8(ascii: "=")
        var i = 0
        while i < buf.count {
            var end = i
            while end < buf.count && buf[end] != amp { end += 1 }
            if end > i {
                var split = i
                while split < end && buf[split] != eq { split += 1 }
                guard let name = formDecode(UnsafeBufferPointer(rebasing: buf[i..<split])) else { return nil }
                let value = split < end ? formDecode(UnsafeBufferPointer(rebasing: buf[(split + 1)..<end])) : ""
                guard let value else { return nil }
                items.append((name, value))
            }
            i = end + 1
        }
        return items
    }

    /// One query name or value: `+` is a space, `%XX` a byte, and the result must be UTF-8.
    private static func formDecode(_ part: UnsafeBufferPointer<UInt8>) -> String? {
        // Most names and values (cursors, numbers) need no decoding: validate and copy once.
        if !part.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            return String(validating: part, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(part.count)
        var i = 0
        while i < part.count {
            let b = part[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < part.count, let hv = hexValue(part[i + 1]), let lv = hexValue(part[i + 2]),
                      !isControl(hv << 4 | lv) else { return nil }
                bytes.append(hv << 4 | lv)
                i += 3
                continue
            }
            bytes.append(b == UInt8(ascii: "+") ? UInt8(ascii: " ") : b)
            i += 1
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// A decoded C0 control or DEL: no name, id or token has one, and a NUL would be cut
    /// short by some database drivers (libpq) and not by others, so it is refused here,
    /// once, for every path segment and query part.
    static func isControl(_ b: UInt8) -> Bool { b < 0x20 || b == 0x7F }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
