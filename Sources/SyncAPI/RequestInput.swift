import HTTPServer
import JSON
import SyncEngine

/// Typed access to a request's JSON body and query, with one clear 400 per mistake.
struct RequestInput: Sendable {
    let request: HTTPRequest
    /// Decoded once: a handler reads several parameters (the router has already
    /// refused a malformed query with 400).
    let queryItems: [(name: String, value: String)]

    init(request: HTTPRequest) {
        self.request = request
        queryItems = request.queryItems
    }

    /// The body as a JSON object. An empty body counts as `{}` for routes with only
    /// optional fields.
    func object(allowEmpty: Bool = false) throws(APIError) -> JSONValue {
        if request.body.isEmpty {
            if allowEmpty { return .object([]) }
            throw .invalidJSON("a JSON object body is required")
        }
        if let ct = request.headers["content-type"], !Self.acceptedMediaTypes.contains(Self.mediaType(ct)) {
            // curl -d sends x-www-form-urlencoded by default: accepted (and parsed as JSON) so
            // shell scripts need no -H; anything else (multipart, XML, application/jsonx) is refused.
            throw .unsupportedMediaType
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(request.body)
        } catch {
            throw .invalidJSON("body is not valid JSON: \(error)")
        }
        guard case .object = value else { throw .invalidJSON("body must be a JSON object") }
        return value
    }

    static let acceptedMediaTypes: Set<String> = ["application/json", "text/plain", "application/x-www-form-urlencoded"]

    /// The `type/subtype` of a Content-Type (RFC 9110 §8.3.1: parameters after `;`,
    /// case-insensitive, optional whitespace), compared exactly, never by prefix.
    static func mediaType(_ contentType: String) -> String {
        let type = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return String(type.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()).lowercased()
    }

    static func string(_ obj: JSONValue, _ key: String) throws(APIError) -> String {
        guard let v = obj[key] else { throw APIError.invalid(key, "is required") }
        guard let s = v.stringValue else { throw APIError.invalid(key, "must be a string") }
        return s
    }

    static func optionalStringArray(_ obj: JSONValue, _ key: String) throws(APIError) -> [String] {
        guard let v = obj[key], !v.isNull else { return [] }
        guard let items = v.arrayValue else { throw APIError.invalid(key, "must be an array of strings") }
        var out: [String] = []
        for item in items {
            guard let s = item.stringValue else { throw APIError.invalid(key, "must be an array of strings") }
            out.append(s)
        }
        return out
    }

    static func int(_ obj: JSONValue, _ key: String) throws(APIError) -> Int64 {
        guard let v = obj[key] else { throw APIError.invalid(key, "is required") }
        guard let i = v.int64Value else { throw APIError.invalid(key, "must be an integer") }
        return i
    }

    /// An integer query parameter within `range`, or `default` when absent.
    func queryInt(_ name: String, default def: Int?, range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = queryString(name) else { return def }
        guard let v = Int(text), range.contains(v) else {
            throw APIError.invalid(name, "must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    /// The first value of a query parameter.
    func queryString(_ name: String) -> String? {
        for item in queryItems where item.name == name { return item.value }
        return nil
    }

    /// The bearer token of `Authorization: Bearer <token>`.
    var bearerToken: String? {
        guard let h = request.headers["authorization"] else { return nil }
        let parts = h.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmedForToken()
        return token.isEmpty ? nil : token
    }
}

extension Substring {
    func trimmedForToken() -> String {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
