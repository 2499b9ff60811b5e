import CPQ
import Glibc

/// A parameter value, sent in text format (`nil` is SQL NULL).
public enum PGValue: Sendable {
    case int(Int64)
    case text(String)
    case bytea([UInt8])
    case bool(Bool)
    case double(Double)
    case int64Array([Int64])
    /// A `text[]` literal: every element quoted, `"` and `\` escaped.
    case textArray([String])
    case null

    init<T: BinaryInteger>(_ v: T?) { self = v.map { .int(Int64($0)) } ?? .null }
    init(_ v: String?) { self = v.map { .text($0) } ?? .null }

    var text: String? {
        switch self {
        case .int(let v): return String(v)
        case .text(let s): return s
        case .bool(let b): return b ? "t" : "f"
        case .double(let d): return "\(d)"
        case .bytea(let bytes):
            var s = "\\x"
            s.reserveCapacity(2 + bytes.count * 2)
            let hex = Array("0123456789abcdef".utf8)
            s += String(decoding: bytes.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
            return s
        case .int64Array(let values): return "{" + values.map(String.init).joined(separator: ",") + "}"
        case .textArray(let values): return Self.arrayLiteral(values)
        case .null: return nil
        }
    }

    /// An array literal in text format: every element quoted, `"` and `\` escaped; nil is
    /// NULL. Any element type reads it (`'{"1","2"}'::bigint[]`).
    static func arrayLiteral(_ values: [String?]) -> String {
        var out = "{"
        for (i, v) in values.enumerated() {
            if i > 0 { out += "," }
            guard let v else {
                out += "NULL"
                continue
            }
            out += "\""
            for ch in v.unicodeScalars {
                if ch == "\"" || ch == "\\" { out += "\\" }
                out.unicodeScalars.append(ch)
            }
            out += "\""
        }
        return out + "}"
    }
}
