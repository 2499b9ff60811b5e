import JSON

/// A response as a handler builds it. The connection adds the framing headers
/// (`Date`, `Content-Length`, `Connection`, `Content-Encoding`, `Vary`).
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var contentType: String?
    /// Set by the server when the connection must close after this response.
    public var closeConnection = false

    public static let jsonContentType = "application/json; charset=utf-8"

    public init(status: HTTPStatus, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                contentType: String? = HTTPResponse.jsonContentType) {
        self.status = status
        self.headers = headers
        self.body = body
        self.contentType = body.isEmpty && status == .noContent ? nil : contentType
    }

    /// A JSON response from already-encoded bytes.
    public static func json(_ status: HTTPStatus, _ body: [UInt8], headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: body)
    }

    /// The shared error shape: `{"error":{"code":"...","message":"..."}}`.
    public static func error(_ status: HTTPStatus, code: String, message: String,
                             headers: [(name: String, value: String)] = [],
                             extra: [(String, String)] = []) -> HTTPResponse {
        var w = JSONWriter(capacity: 64 + message.utf8.count)
        w.object { w in
            w.key("error")
            w.object { w in
                w.field("code", code)
                w.field("message", message)
                for (key, rawJSON) in extra {
                    w.key(text: key)
                    w.raw(rawJSON)
                }
            }
        }
        let out = w.bytes
        return HTTPResponse(status: status, headers: headers, body: out)
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }
}
