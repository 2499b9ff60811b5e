/// Parses the request line and header fields (RFC 9112 §2-§5).
///
///     request-line   = method SP request-target SP HTTP-version CRLF
///     field-line     = field-name ":" OWS field-value OWS CRLF
///     head           = request-line *( field-line ) CRLF
///
/// Resumable: `parse` is called with everything buffered so far and remembers how far
/// it scanned, so bytes arriving one at a time are scanned once and parse exactly as
/// the same bytes arriving whole. Strict on purpose: bare LF, obs-fold, whitespace
/// before the colon and control bytes are errors, not guesses.
struct RequestHeadParser {
    enum Outcome {
        case needMore
        case head(HTTPRequestHead, consumed: Int)
    }

    let maxHeaderBytes: Int
    let maxHeaderCount: Int
    private var scanned = 0

    init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
    }

    mutating func reset() { scanned = 0 }

    mutating func parse(_ buf: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> Outcome {
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        // RFC 9112 §2.2: ignore empty lines before the request line (robustness after a
        // body with an extra CRLF).
        var start = 0
        while start + 1 < buf.count && buf[start] == cr && buf[start + 1] == lf { start += 2 }
        if start < buf.count && buf[start] == lf { throw .bareLineFeed }
        var end = -1
        var i = max(scanned, start)
        while i < buf.count {
            let b = buf[i]
            if b == lf {
                if i == start || buf[i - 1] != cr { throw .bareLineFeed }
                if i - start >= 3 && buf[i - 2] == lf && buf[i - 3] == cr {
                    end = i + 1
                    break
                }
            }
            i += 1
        }
        if end < 0 {
            scanned = max(start, buf.count)
            if buf.count - start > maxHeaderBytes { throw .headerTooLarge }
            return .needMore
        }
        if end - start > maxHeaderBytes { throw .headerTooLarge }
        let head = try Self.parseHead(UnsafeBufferPointer(rebasing: buf[start..<(end - 2)]), maxHeaderCount: maxHeaderCount)
        scanned = 0
        return .head(head, consumed: end)
    }

    /// `bytes` holds the request line and field lines, each ending in CRLF.
    private static func parseHead(_ bytes: UnsafeBufferPointer<UInt8>, maxHeaderCount: Int) throws(HTTPParseError) -> HTTPRequestHead {
        var lines: [Range<Int>] = []
        var lineStart = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\r") {
                guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\n") else { throw .malformedHeader }
                lines.append(lineStart..<i)
                i += 2
                lineStart = i
            } else {
                i += 1
            }
        }
        guard let requestLine = lines.first else { throw .malformedRequestLine }
        var head = try parseRequestLine(UnsafeBufferPointer(rebasing: bytes[requestLine]))
        if lines.count - 1 > maxHeaderCount { throw .tooManyHeaders }
        for range in lines.dropFirst() {
            let (name, value) = try parseField(UnsafeBufferPointer(rebasing: bytes[range]))
            head.headers.addLowercased(name, value)
        }
        if head.version == .http1_1 && head.headers.values("host").count != 1 { throw .missingHost }
        // Singletons (RFC 9110 §5.3, RFC 6455 §4.1): two credentials, or two handshake
        // keys, would leave a proxy and this server free to read different ones.
        for name in Self.singletons where head.headers.values(name).count > 1 { throw .repeatedField }
        return head
    }

    static let singletons = ["authorization", "sec-websocket-key"]

    private static func parseRequestLine(_ line: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> HTTPRequestHead {
        let sp = UInt8(ascii: " ")
        guard let firstSP = line.firstIndex(of: sp), firstSP > 0 else { throw .malformedRequestLine }
        guard let secondSP = line[(firstSP + 1)...].firstIndex(of: sp), secondSP > firstSP + 1 else { throw .malformedRequestLine }
        let methodBytes = line[..<firstSP]
        guard methodBytes.allSatisfy(HTTPGrammar.isTokenChar) else { throw .malformedRequestLine }
        let targetBytes = line[(firstSP + 1)..<secondSP]
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidTarget }
        let versionBytes = line[(secondSP + 1)...]
        let version = try parseVersion(versionBytes)

        let method = HTTPMethod(String(decoding: methodBytes, as: UTF8.self))
        let target = String(decoding: targetBytes, as: UTF8.self)
        if targetBytes.first == UInt8(ascii: "/") {
            // origin-form, the usual case: split path and query on the bytes (walking the
            // String by Characters cost more than the rest of the request line).
            let question = targetBytes.firstIndex(of: UInt8(ascii: "?"))
            var pathBytes = targetBytes[..<(question ?? targetBytes.endIndex)]
            if let hash = pathBytes.firstIndex(of: UInt8(ascii: "#")) { pathBytes = pathBytes[..<hash] }
            let query = question.map { String(decoding: targetBytes[($0 + 1)...], as: UTF8.self) }
            return HTTPRequestHead(method: method, target: target, path: String(decoding: pathBytes, as: UTF8.self),
                                   query: query, version: version, headers: HTTPHeaders())
        }
        var path: Substring
        if target == "*" && method == .OPTIONS {
            path = "*"
        } else if let absolute = absoluteFormPath(target) {
            // absolute-form (RFC 9112 §3.2.2): use its path; Host is still required.
            path = absolute
        } else {
            throw .invalidTarget
        }
        var query: String? = nil
        if let q = path.firstIndex(of: "?") {
            query = String(path[path.index(after: q)...])
            path = path[..<q]
        }
        if let hash = path.firstIndex(of: "#") { path = path[..<hash] }
        return HTTPRequestHead(method: method, target: target, path: String(path), query: query,
                               version: version, headers: HTTPHeaders())
    }

    private static func absoluteFormPath(_ target: String) -> Substring? {
        let lower = target.lowercased()
        let schemeLength = lower.hasPrefix("http://") ? 7 : lower.hasPrefix("https://") ? 8 : 0
        guard schemeLength > 0 else { return nil }
        let rest = target.dropFirst(schemeLength)
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        return rest[slash...]
    }

    private static func parseVersion(_ v: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTPParseError) -> HTTPVersion {
        let prefix = Array("HTTP/".utf8)
        guard v.count == 8, v.starts(with: prefix) else { throw .malformedRequestLine }
        let major = v[v.startIndex + 5], dot = v[v.startIndex + 6], minor = v[v.startIndex + 7]
        guard HTTPGrammar.isDigit(major), dot == UInt8(ascii: "."), HTTPGrammar.isDigit(minor) else { throw .malformedRequestLine }
        let version = HTTPVersion(major: Int(major - 48), minor: Int(minor - 48))
        guard version == .http1_1 || version == .http1_0 else { throw .unsupportedVersion }
        return version
    }

    private static func parseField(_ line: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> (String, String) {
        guard let first = line.first else { throw .malformedHeader }
        if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { throw .obsoleteLineFolding }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { throw .malformedHeader }
        // No whitespace between name and colon (RFC 9112 §5.1): a classic smuggling vector.
        guard line[..<colon].allSatisfy(HTTPGrammar.isTokenChar) else { throw .malformedHeader }
        var vs = colon + 1, ve = line.count
        while vs < ve && (line[vs] == 0x20 || line[vs] == 0x09) { vs += 1 }
        while ve > vs && (line[ve - 1] == 0x20 || line[ve - 1] == 0x09) { ve -= 1 }
        for b in line[vs..<ve] where !(b == 0x09 || b >= 0x20) || b == 0x7F { throw .malformedHeader }
        // Field names are case-insensitive: lower-case them once, here, byte by byte.
        let name = String(unsafeUninitializedCapacity: colon) { buf in
            for i in 0..<colon {
                let b = line[i]
                buf[i] = b >= 0x41 && b <= 0x5A ? b | 0x20 : b
            }
            return colon
        }
        return (name, String(decoding: line[vs..<ve], as: UTF8.self))
    }
}

enum HTTPGrammar {
    /// tchar (RFC 9110 §5.6.2).
    static let tokenTable: [Bool] = (0..<256).map { c in
        let u = UInt8(c)
        if isDigit(u) || (u >= 0x41 && u <= 0x5A) || (u >= 0x61 && u <= 0x7A) { return true }
        return "!#$%&'*+-.^_`|~".utf8.contains(u)
    }

    @inline(__always) static func isTokenChar(_ b: UInt8) -> Bool { tokenTable[Int(b)] }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}
