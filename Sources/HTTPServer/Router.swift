/// Maps (method, path) to a typed route value. Patterns are compiled once at startup
/// into segment lists (`/v1/rooms/{id}/messages` -> literal, literal, capture, literal);
/// captures are percent-decoded per segment, so `%2F` never splits a segment.
///
/// The result distinguishes "no such path" (404) from "path exists, method does not"
/// (405 with the `Allow` list), and answers HEAD with the GET route.
public struct Router<Route: Sendable>: Sendable {
    @usableFromInline
    enum Segment: Sendable, Equatable {
        case literal(String)
        case capture
    }

    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline let method: HTTPMethod
        @usableFromInline let segments: [Segment]
        @usableFromInline let bodyLimit: Int?
        @usableFromInline let make: @Sendable ([String]) -> Route
        @usableFromInline let pattern: String
    }

    public enum Match: Sendable {
        /// `bodyLimit` nil means the server's transport default; `pattern` labels metrics.
        case found(Route, bodyLimit: Int?, pattern: String)
        case methodNotAllowed(allow: [HTTPMethod])
        case notFound
        /// A capture or the path was not valid percent-encoded UTF-8.
        case badPath
    }

    @usableFromInline var entries: [Entry] = []

    public init() {}

    public mutating func add(_ method: HTTPMethod, _ pattern: String, bodyLimit: Int? = nil,
                             _ make: @escaping @Sendable ([String]) -> Route) {
        let segments: [Segment] = pattern.split(separator: "/").map {
            $0.hasPrefix("{") && $0.hasSuffix("}") ? .capture : .literal(String($0))
        }
        entries.append(Entry(method: method, segments: segments, bodyLimit: bodyLimit, make: make, pattern: pattern))
    }

    /// Inlinable so the route type is specialized in the caller's module: this runs
    /// twice per request (body limit, then dispatch) and must not go through generic
    /// metadata lookups.
    @inlinable
    public func match(_ method: HTTPMethod, _ path: String) -> Match {
        // Split on bytes: splitting the String walks it by Characters.
        let raw = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        var allowed: [HTTPMethod] = []
        for entry in entries where entry.segments.count == raw.count {
            var literalsMatch = true
            for i in 0..<raw.count {
                if case .literal(let lit) = entry.segments[i], !raw[i].elementsEqual(lit.utf8) {
                    literalsMatch = false
                    break
                }
            }
            guard literalsMatch else { continue }
            guard entry.method == method || (method == .HEAD && entry.method == .GET) else {
                if !allowed.contains(entry.method) { allowed.append(entry.method) }
                continue
            }
            var captures: [String] = []
            for i in 0..<raw.count where entry.segments[i] == .capture {
                guard let decoded = URLEncoding.percentDecode(Substring(raw[i])), !decoded.isEmpty else { return .badPath }
                captures.append(decoded)
            }
            return .found(entry.make(captures), bodyLimit: entry.bodyLimit, pattern: entry.pattern)
        }
        if allowed.isEmpty { return .notFound }
        if allowed.contains(.GET) && !allowed.contains(.HEAD) { allowed.append(.HEAD) }
        allowed.append(.OPTIONS)
        return .methodNotAllowed(allow: allowed)
    }

    /// The methods a path supports (for OPTIONS and 405), or nil when the path is unknown.
    @inlinable
    public func allowedMethods(_ path: String) -> [HTTPMethod]? {
        if case .methodNotAllowed(let allow) = match(HTTPMethod(""), path) { return allow }
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
    @inlinable
    public func resolve(_ head: HTTPRequestHead) -> Resolution { resolveLabeled(head).resolution }

    /// `resolve`, plus the matched route's pattern (e.g. `/v1/rooms/{id}`) as a label for
    /// metrics, nil when routing answered by itself.
    @inlinable
    public func resolveLabeled(_ head: HTTPRequestHead) -> (resolution: Resolution, label: String?) {
        if let q = head.query, !URLEncoding.isValidQuery(q) {
            return (.response(.error(.badRequest, code: "malformed_query", message: "query string is not valid percent-encoded UTF-8 without control characters")), nil)
        }
        if head.method == .OPTIONS {
            if head.path == "*" {
                let all = Set(entries.map(\.method)).map(\.rawValue).sorted() + ["HEAD", "OPTIONS"]
                return (.response(HTTPResponse(status: .noContent, headers: [("Allow", all.joined(separator: ", "))])), nil)
            }
            if case .found = match(.OPTIONS, head.path) {} else {
                guard let allow = allowedMethods(head.path) else {
                    return (.response(.error(.notFound, code: "not_found", message: "no such resource")), nil)
                }
                return (.response(HTTPResponse(status: .noContent,
                                              headers: [("Allow", allow.map(\.rawValue).joined(separator: ", "))])), nil)
            }
        }
        switch match(head.method, head.path) {
        case .found(let route, _, let pattern):
            return (.route(route), pattern)
        case .methodNotAllowed(let allow):
            return (.response(.error(.methodNotAllowed, code: "method_not_allowed",
                                    message: "\(head.method) is not allowed here",
                                    headers: [("Allow", allow.map(\.rawValue).joined(separator: ", "))])), nil)
        case .notFound:
            return (.response(.error(.notFound, code: "not_found", message: "no such resource")), nil)
        case .badPath:
            return (.response(.error(.badRequest, code: "malformed_path", message: "path is not valid percent-encoded UTF-8 without control characters")), nil)
        }
    }

    /// The body limit of the route a head resolves to (nil: the server default).
    @inlinable
    public func bodyLimit(for head: HTTPRequestHead) -> Int? {
        if case .found(_, let limit, _) = match(head.method, head.path) { return limit }
        return nil
    }
}
