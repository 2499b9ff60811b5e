// libFuzzer harness: the strict JSON parser used for every request body
// (JSONParser.parse) and the serializer it round-trips through (JSONValue.serialized,
// which is JSONWriter.value writing through a pointer into a buffer that grows).
//
// Compiled by fuzz/run into module JSON.
//
// Invariants checked (beyond "does not trap"):
//  - an error's offset lies within the input;
//  - parse(serialize(parse(x))) == parse(x), and serializing again gives the same bytes
//    (the compact form is a fixed point);
//  - the serialization is valid UTF-8 and no longer than needed (no raw control bytes);
//  - a value accepted at maxDepth d is accepted at any larger depth, and equal;
//  - the String overload agrees with the byte overload on valid UTF-8.

func fuzzDepth(_ v: JSONValue) -> Int {
    switch v {
    case .array(let items): return 1 + (items.map(fuzzDepth).max() ?? 0)
    case .object(let members): return 1 + (members.map { fuzzDepth($0.1) }.max() ?? 0)
    default: return 0
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let first: JSONValue
    do throws(JSONError) {
        first = try JSONParser.parse(bytes, maxDepth: 16)
    } catch {
        precondition(error.offset >= 0 && error.offset <= size, "error offset \(error.offset) outside 0...\(size)")
        return 0
    }
    precondition(fuzzDepth(first) <= 16, "nesting deeper than maxDepth accepted")

    let s1 = first.serialized()
    precondition(String(validating: s1, as: UTF8.self) != nil, "serialization is not UTF-8")
    precondition(!s1.contains(where: { $0 < 0x20 }), "raw control byte in serialization")
    let second: JSONValue
    do throws(JSONError) {
        second = try JSONParser.parse(s1, maxDepth: 16)
    } catch {
        preconditionFailure("serialization does not parse: \(error)")
    }
    precondition(second == first, "parse(serialize(parse(x))) != parse(x)")
    precondition(second.serialized() == s1, "serialization is not a fixed point")

    precondition((try? JSONParser.parse(bytes, maxDepth: 64)) == first, "deeper limit changed the value")
    if let text = String(validating: bytes, as: UTF8.self) {
        precondition((try? JSONParser.parse(text, maxDepth: 16)) == first, "String overload differs")
    }
    return 0
}
