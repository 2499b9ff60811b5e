/// Maps (method, path) to a typed route value. Patterns are compiled once at startup
/// into segment lists (`/v1/rooms/{id}/messages` -> literal, literal, capture, literal);
/// captures are percent-decoded per segment, so `%2F` never splits a segment.
///
/// The result distinguishes "no such path" (404) from "path exists, method does not"
/// (405 with the `Allow` list), and answers HEAD with the GET route.
public struct Router<Route: Sendable>: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case capture
    }

    struct Entry: Sendable {
        let method: HTTPMethod
        let segments: [Segment]
        let bodyLimit: Int?
        let make: @Sendable ([String]) -> Route
    }

    public enum Match: Sendable {
        /// `bodyLimit` nil means the server's transport default.
        case found(Route, bodyLimit: Int?)
        case methodNotAllowed(allow: [HTTPMethod])
        case notFound
        /// A capture or the path was not valid percent-encoded UTF-8.
        case badPath
    }

    private var entries: [Entry] = []

    public init() {}

    public mutating func add(_ method: HTTPMethod, _ pattern: String, bodyLimit: Int? = nil,
                             _ make: @escaping @Sendable ([String]) -> Route) {
        let segments: [Segment] = pattern.split(separator: "/").map {
            $0.hasPrefix("{") && $0.hasSuffix("}") ? .capture : .literal(String($0))
        }
        entries.append(Entry(method: method, segments: segments, bodyLimit: bodyLimit, make: make))
    }

    public func match(_ method: HTTPMethod, _ path: String) -> Match {
        let raw = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [HTTPMethod] = []
        for entry in entries where entry.segments.count == raw.count {
            var captures: [String] = []
            var matches = true
            for (segment, part) in zip(entry.segments, raw) {
                switch segment {
                case .literal(let lit):
                    if part != lit { matches = false }
                case .capture:
                    guard let decoded = URLEncoding.percentDecode(part), !decoded.isEmpty else { return .badPath }
                    captures.append(decoded)
                }
                if !matches { break }
            }
            guard matches else { continue }
            if entry.method == method || (method == .HEAD && entry.method == .GET) {
                return .found(entry.make(captures), bodyLimit: entry.bodyLimit)
            }
            if !allowed.contains(entry.method) { allowed.append(entry.method) }
        }
        if allowed.isEmpty { return .notFound }
        if allowed.contains(.GET) && !allowed.contains(.HEAD) { allowed.append(.HEAD) }
        allowed.append(.OPTIONS)
        return .methodNotAllowed(allow: allowed)
    }

    /// The methods a path supports (for OPTIONS), or nil when the path is unknown.
    public func allowedMethods(_ path: String) -> [HTTPMethod]? {
        if case .methodNotAllowed(let allow) = match(HTTPMethod(" none "), path) { return allow }
        return nil
    }
}

extension Router {
    public enum Resolution: Sendable {
        case route(Route)
        /// Routing itself answered: 404, 405 with Allow, OPTIONS, or 400 for a bad path/query.
        case response(HTTPResponse)
    }

    /// Routes a request head, answering what routing alone can answer.
    public func resolve(_ head: HTTPRequestHead) -> Resolution {
        if let q = head.query, URLEncoding.parseQuery(q) == nil {
            return .response(.error(.badRequest, code: "malformed_query", message: "query string is not valid percent-encoded UTF-8"))
        }
        if head.method == .OPTIONS {
            if head.path == "*" {
                let all = Set(entries.map(\.method)).map(\.rawValue).sorted() + ["HEAD", "OPTIONS"]
                return .response(HTTPResponse(status: .noContent, headers: [("Allow", all.joined(separator: ", "))]))
            }
            if case .found = match(.OPTIONS, head.path) {} else {
                guard let allow = allowedMethods(head.path) else {
                    return .response(.error(.notFound, code: "not_found", message: "no such resource"))
                }
                return .response(HTTPResponse(status: .noContent,
                                              headers: [("Allow", allow.map(\.rawValue).joined(separator: ", "))]))
            }
        }
        switch match(head.method, head.path) {
        case .found(let route, _):
            return .route(route)
        case .methodNotAllowed(let allow):
            return .response(.error(.methodNotAllowed, code: "method_not_allowed",
                                    message: "\(head.method) is not allowed here",
                                    headers: [("Allow", allow.map(\.rawValue).joined(separator: ", "))]))
        case .notFound:
            return .response(.error(.notFound, code: "not_found", message: "no such resource"))
        case .badPath:
            return .response(.error(.badRequest, code: "malformed_path", message: "path is not valid percent-encoded UTF-8"))
        }
    }

    /// The body limit of the route a head resolves to (nil: the server default).
    public func bodyLimit(for head: HTTPRequestHead) -> Int? {
        if case .found(_, let limit) = match(head.method, head.path) { return limit }
        return nil
    }
}
