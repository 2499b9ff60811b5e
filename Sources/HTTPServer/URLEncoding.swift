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
                bytes.append(hv << 4 | lv)
            } else if plusAsSpace && b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// `a=1&b=x%20y&flag` -> [("a","1"), ("b","x y"), ("flag","")]; nil if any part is malformed.
    public static func parseQuery(_ query: String) -> [(name: String, value: String)]? {
        var items: [(name: String, value: String)] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(kv[0], plusAsSpace: true) else { return nil }
            let value = kv.count > 1 ? percentDecode(kv[1], plusAsSpace: true) : ""
            guard let value else { return nil }
            items.append((name, value))
        }
        return items
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
