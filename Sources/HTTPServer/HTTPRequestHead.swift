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
