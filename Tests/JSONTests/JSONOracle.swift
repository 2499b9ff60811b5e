import JSON
import MutationSupport

/// The invariants of fuzz/json.swift, checked on any input: the parser gives a value or
/// a typed error with an offset inside the input, never nests past its bound, and what
/// it accepts serializes to UTF-8 without a raw control byte, parses back to the same
/// value, and serializes again to the same bytes (a fixed point).
enum JSONOracle {
    static func depth(_ v: JSONValue) -> Int {
        switch v {
        case .array(let items): return 1 + (items.map(depth).max() ?? 0)
        case .object(let members): return 1 + (members.map { depth($0.1) }.max() ?? 0)
        default: return 0
        }
    }

    /// Parses with the server's settings; on success checks the serialization round trip.
    @discardableResult
    static func check(_ bytes: [UInt8], _ v: inout Violations) -> Result<JSONValue, JSONError> {
        let first: JSONValue
        do {
            first = try JSONParser.parse(bytes)
        } catch {
            v.check(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) outside the input", bytes)
            return .failure(error)
        }
        v.check(depth(first) <= 64, "nesting deeper than 64 accepted", bytes)
        let s1 = first.serialized()
        v.check(String(validating: s1, as: UTF8.self) != nil, "serialization is not UTF-8", bytes)
        v.check(!s1.contains { $0 < 0x20 }, "raw control byte in the serialization", bytes)
        do {
            let second = try JSONParser.parse(s1)
            v.check(second == first, "parse(serialize(parse(x))) != parse(x)", bytes)
            v.check(second.serialized() == s1, "serialization is not a fixed point", bytes)
        } catch {
            v.check(false, "serialization does not parse: \(error)", bytes)
        }
        return .success(first)
    }
}
