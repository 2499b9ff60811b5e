/// An HTTP method token (RFC 9110 §9). Kept open (any token parses) so an unknown
/// method reaches routing and gets a 405/501 rather than a parse error.
public struct HTTPMethod: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let GET = HTTPMethod("GET")
    public static let HEAD = HTTPMethod("HEAD")
    public static let POST = HTTPMethod("POST")
    public static let PUT = HTTPMethod("PUT")
    public static let PATCH = HTTPMethod("PATCH")
    public static let DELETE = HTTPMethod("DELETE")
    public static let OPTIONS = HTTPMethod("OPTIONS")
}

public struct HTTPVersion: Hashable, Sendable {
    public let major: Int
    public let minor: Int
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
}

/// Header fields in arrival order. Names are stored lower-cased (field names are
/// case-insensitive, RFC 9110 §5.1), so lookups are plain comparisons.
public struct HTTPHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ fields: [(String, String)]) {
        for (n, v) in fields { add(n, v) }
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name.lowercased(), value))
    }

    /// For names that are already lower-case (the parser's).
    mutating func addLowercased(_ name: String, _ value: String) {
        fields.append((name, value))
    }

    private static func lower(_ name: String) -> String {
        name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? name.lowercased() : name
    }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        let lower = Self.lower(name)
        for f in fields where f.name == lower { return f.value }
        return nil
    }

    /// Every value of `name`, in order (for fields that may repeat).
    public func values(_ name: String) -> [String] {
        let lower = Self.lower(name)
        return fields.filter { $0.name == lower }.map(\.value)
    }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    /// True when a comma-separated field contains `token` (case-insensitive), e.g.
    /// `Connection: keep-alive, Upgrade`.
    public func containsToken(_ name: String, _ token: String) -> Bool {
        let t = token.lowercased()
        for value in values(name) {
            for part in value.split(separator: ",") where part.trimmedOWS().lowercased() == t { return true }
        }
        return false
    }
}

extension StringProtocol {
    /// Trims optional whitespace (SP / HTAB), RFC 9110 §5.6.3.
    public func trimmedOWS() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

/// The request line and header fields, available before the body is read (so routing
/// can choose a body limit and answer `Expect: 100-continue`).
public struct HTTPRequestHead: Sendable {
    public var method: HTTPMethod
    /// The request-target as sent (origin-form, or `*`).
    public var target: String
    /// The path part of the target, still percent-encoded.
    public var path: String
    /// The query part without `?`, still percent-encoded; nil when absent.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders

    /// Persistent connection semantics (RFC 9112 §9.3): 1.1 keeps alive unless
    /// `Connection: close`; 1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        if version == .http1_1 { return !headers.containsToken("connection", "close") }
        return headers.containsToken("connection", "keep-alive")
    }

    public var acceptsGzip: Bool {
        guard let v = headers["accept-encoding"] else { return false }
        for part in v.split(separator: ",") {
            let item = part.split(separator: ";")
            guard let coding = item.first?.trimmedOWS().lowercased(), coding == "gzip" || coding == "x-gzip" else { continue }
            // "gzip;q=0" explicitly refuses gzip (RFC 9110 §12.5.3).
            for param in item.dropFirst() {
                let p = param.trimmedOWS().lowercased()
                if p.hasPrefix("q="), let q = Double(p.dropFirst(2)), q == 0 { return false }
            }
            return true
        }
        return false
    }
}

/// A complete request: head, decoded body, and where it came from.
public struct HTTPRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: [UInt8]
    /// The peer's IPv4 address as text (for per-address limits and logs).
    public var remoteAddress: String

    public var method: HTTPMethod { head.method }
    public var path: String { head.path }
    public var headers: HTTPHeaders { head.headers }

    public init(head: HTTPRequestHead, body: [UInt8] = [], remoteAddress: String = "127.0.0.1") {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// Decoded query parameters (first value wins for `subscript`).
    public var queryItems: [(name: String, value: String)] {
        guard let q = head.query else { return [] }
        return URLEncoding.parseQuery(q) ?? []
    }

    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }
}
