import CPQ
import Glibc

/// One row of a result, read by column index. Values arrive in text format.
public struct PGRow {
    let result: OpaquePointer
    let index: Int32

    public func isNull(_ column: Int) -> Bool { PQgetisnull(result, index, Int32(column)) == 1 }

    public func text(_ column: Int) -> String {
        String(cString: PQgetvalue(result, index, Int32(column)))
    }

    public func optionalText(_ column: Int) -> String? { isNull(column) ? nil : text(column) }

    public func int64(_ column: Int) -> Int64 {
        // Text digits straight from libpq's buffer: no String in between.
        guard let p = PQgetvalue(result, index, Int32(column)) else { return 0 }
        var i = 0
        var negative = false
        if p[0] == 0x2D { negative = true; i = 1 }
        var v: Int64 = 0
        while p[i] >= 0x30 && p[i] <= 0x39 {
            v = v &* 10 &+ Int64(p[i] - 0x30)
            i += 1
        }
        return negative ? -v : v
    }

    public func optionalInt64(_ column: Int) -> Int64? { isNull(column) ? nil : int64(column) }

    /// A one-dimensional `text[]` in text format (`{a,"b c","d\"e"}`; NULL and `{}` are
    /// empty; a NULL element is "").
    public func textArray(_ column: Int) -> [String] {
        guard !isNull(column), let p = PQgetvalue(result, index, Int32(column)) else { return [] }
        let n = Int(PQgetlength(result, index, Int32(column)))
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: n)
        var out: [String] = []
        var i = 1   // after "{"
        guard n >= 2 else { return [] }
        while i < n - 1 {
            var element: [UInt8] = []
            if bytes[i] == UInt8(ascii: "\"") {
                i += 1
                while i < n && bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\") { i += 1 }
                    if i < n { element.append(bytes[i]) }
                    i += 1
                }
                i += 1   // the closing quote
                out.append(String(decoding: element, as: UTF8.self))
            } else {
                while i < n - 1 && bytes[i] != UInt8(ascii: ",") {
                    element.append(bytes[i])
                    i += 1
                }
                let text = String(decoding: element, as: UTF8.self)
                out.append(text == "NULL" ? "" : text)
            }
            i += 1   // the comma
        }
        return out
    }

    /// A `bigint[]` in text format (`{1,2,3}`; NULL and `{}` are empty).
    public func int64Array(_ column: Int) -> [Int64] {
        guard !isNull(column), let p = PQgetvalue(result, index, Int32(column)) else { return [] }
        var out: [Int64] = []
        var i = 0
        var v: Int64 = 0
        var negative = false
        var inNumber = false
        while p[i] != 0 {
            let c = p[i]
            if c >= 0x30 && c <= 0x39 {
                v = v &* 10 &+ Int64(c - 0x30)
                inNumber = true
            } else if c == 0x2D {
                negative = true
            } else {
                if inNumber { out.append(negative ? -v : v) }
                v = 0
                negative = false
                inNumber = false
            }
            i += 1
        }
        return out
    }
    public func int(_ column: Int) -> Int { Int(int64(column)) }
    public func bool(_ column: Int) -> Bool { PQgetvalue(result, index, Int32(column))?[0] == 0x74 }   // 't'
}
