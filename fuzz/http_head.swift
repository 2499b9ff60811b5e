// libFuzzer harness: HTTP/1.1 request head parser (RequestHeadParser.parse), the body
// framing decision made from its result (BodyFraming.of), and what the router does
// with the parsed target (query and path percent-decoding).
//
// Compiled by fuzz/run into module HTTPServer, so internal API is visible.
//
// Invariants checked (beyond "does not trap"):
//  - a head never consumes more than it was given, and the consumed bytes end in CRLFCRLF;
//  - parsing the consumed prefix alone gives the identical head;
//  - the same bytes fed in two pieces (split point taken from the input) and, for short
//    inputs, one byte at a time, give the identical head / needMore, and error iff the
//    whole buffer errors (no parser disagreement = no smuggling between deliveries);
//  - no field of a parsed head holds CR, LF or NUL; names are lower-case tchar; values
//    carry no leading/trailing OWS; method is a token; version is 1.0 or 1.1; an
//    HTTP/1.1 head has exactly one Host;
//  - BodyFraming: chunked only on 1.1 without Content-Length; length(n) has 0 < n < 10^15
//    and no Transfer-Encoding; CL together with TE is refused.

struct FuzzHeadSummary: Equatable {
    var method: String
    var target: String
    var path: String
    var query: String?
    var version: HTTPVersion
    var headers: [String]
    var consumed: Int

    init(_ h: HTTPRequestHead, consumed: Int) {
        method = h.method.rawValue
        target = h.target
        path = h.path
        query = h.query
        version = h.version
        headers = h.headers.fields.map { $0.name + "\u{0}" + $0.value }
        self.consumed = consumed
    }
}

enum FuzzHeadResult: Equatable {
    case head(FuzzHeadSummary)
    case needMore
    case error(HTTPParseError)

    var isError: Bool { if case .error = self { return true } else { return false } }
}

let fuzzMaxHeaderBytes = 2048
let fuzzMaxHeaderCount = 16

/// Feeds growing prefixes of `bytes` (ending at each cut, then the whole) to one parser.
func fuzzParse(_ bytes: UnsafeBufferPointer<UInt8>, cuts: [Int]) -> FuzzHeadResult {
    var parser = RequestHeadParser(maxHeaderBytes: fuzzMaxHeaderBytes, maxHeaderCount: fuzzMaxHeaderCount)
    for cut in cuts + [bytes.count] {
        do throws(HTTPParseError) {
            switch try parser.parse(UnsafeBufferPointer(rebasing: bytes[0..<cut])) {
            case .needMore:
                if cut == bytes.count { return .needMore }
            case .head(let h, let consumed):
                precondition(consumed <= cut, "consumed \(consumed) of \(cut)")
                return .head(FuzzHeadSummary(h, consumed: consumed))
            }
        } catch {
            return .error(error)
        }
    }
    return .needMore
}

func fuzzCheckField(_ s: String, _ what: String) {
    for b in s.utf8 {
        precondition(b != 0x0D && b != 0x0A && b != 0x00, "\(what) holds a CR/LF/NUL: \(s.debugDescription)")
    }
}

func fuzzCheckHead(_ h: HTTPRequestHead) {
    precondition(!h.method.rawValue.isEmpty && h.method.rawValue.utf8.allSatisfy(HTTPGrammar.isTokenChar), "method")
    fuzzCheckField(h.target, "target")
    fuzzCheckField(h.path, "path")
    if let q = h.query { fuzzCheckField(q, "query") }
    precondition(h.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target has SP/CTL/non-ASCII")
    precondition(h.version == .http1_0 || h.version == .http1_1, "version")
    precondition(h.headers.count <= fuzzMaxHeaderCount, "too many headers accepted")
    for f in h.headers.fields {
        fuzzCheckField(f.name, "header name")
        fuzzCheckField(f.value, "header value")
        precondition(!f.name.isEmpty && f.name.utf8.allSatisfy { HTTPGrammar.isTokenChar($0) && !($0 >= 0x41 && $0 <= 0x5A) },
                     "header name not lower-case tchar: \(f.name.debugDescription)")
        if let first = f.value.utf8.first, let last = f.value.utf8.last {
            precondition(first != 0x20 && first != 0x09 && last != 0x20 && last != 0x09, "value not trimmed")
        }
    }
    if h.version == .http1_1 { precondition(h.headers.values("host").count == 1, "1.1 without exactly one Host") }
    precondition(h.path.hasPrefix("/") || h.path == "*", "path \(h.path.debugDescription)")

    // Derived values the server computes for every request: must not trap.
    _ = h.keepAlive
    _ = h.acceptsGzip
    if let q = h.query, let items = URLEncoding.parseQuery(q) {
        for (name, value) in items { _ = name.utf8.count + value.utf8.count }
    }
    for segment in h.path.split(separator: "/") { _ = URLEncoding.percentDecode(segment) }

    let te = h.headers.values("transfer-encoding"), cl = h.headers.values("content-length")
    do throws(HTTPParseError) {
        switch try BodyFraming.of(h) {
        case .chunked:
            precondition(h.version == .http1_1 && cl.isEmpty && !te.isEmpty, "chunked framing")
        case .length(let n):
            precondition(te.isEmpty && !cl.isEmpty && n > 0 && n < 1_000_000_000_000_000, "length framing \(n)")
        case .none:
            precondition(te.isEmpty, "TE ignored")
        }
    } catch {
        if !te.isEmpty && !cl.isEmpty { precondition(error == .contentLengthWithTransferEncoding) }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPHead(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)

    let whole = fuzzParse(bytes, cuts: [])
    if case .head(let s) = whole {
        precondition(s.consumed >= 4 && s.consumed <= size, "consumed out of range")
        precondition(bytes[s.consumed - 4] == 0x0D && bytes[s.consumed - 3] == 0x0A
                     && bytes[s.consumed - 2] == 0x0D && bytes[s.consumed - 1] == 0x0A, "head does not end in CRLFCRLF")
        // The consumed prefix alone parses to the same head.
        precondition(fuzzParse(UnsafeBufferPointer(rebasing: bytes[0..<s.consumed]), cuts: []) == whole, "prefix differs")
        var parser = RequestHeadParser(maxHeaderBytes: fuzzMaxHeaderBytes, maxHeaderCount: fuzzMaxHeaderCount)
        if case .head(let h, _)? = try? parser.parse(bytes) { fuzzCheckHead(h) } else { preconditionFailure("reparse") }
    }

    // Two deliveries, split where the input says.
    if size > 1 {
        let cut = (Int(bytes[0]) << 8 | Int(bytes[size - 1])) % size
        let split = fuzzParse(bytes, cuts: [cut])
        if whole.isError { precondition(split.isError, "split \(cut): \(split) vs whole \(whole)") }
        else { precondition(split == whole, "split \(cut): \(split) vs whole \(whole)") }
    }
    // One byte at a time (short inputs only: it is quadratic in the worst case).
    if size <= 600 {
        let bytewise = fuzzParse(bytes, cuts: Array(0..<size))
        if whole.isError { precondition(bytewise.isError, "bytewise: \(bytewise) vs whole \(whole)") }
        else { precondition(bytewise == whole, "bytewise: \(bytewise) vs whole \(whole)") }
    }
    return 0
}
