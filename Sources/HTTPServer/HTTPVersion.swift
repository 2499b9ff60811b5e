/// The protocol version of a request line (RFC 9112 §2.3): 1.0 or 1.1 here.
public struct HTTPVersion: Hashable, Sendable {
    public let major: Int
    public let minor: Int
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
}
