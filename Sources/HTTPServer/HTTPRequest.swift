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
