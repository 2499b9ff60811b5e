import JSON

/// An HTTP status code with its reason phrase.
public struct HTTPStatus: Hashable, Sendable {
    public let code: Int
    public let reason: String
    public init(_ code: Int, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static let ok = HTTPStatus(200, "OK")
    public static let created = HTTPStatus(201, "Created")
    public static let noContent = HTTPStatus(204, "No Content")
    public static let badRequest = HTTPStatus(400, "Bad Request")
    public static let unauthorized = HTTPStatus(401, "Unauthorized")
    public static let forbidden = HTTPStatus(403, "Forbidden")
    public static let notFound = HTTPStatus(404, "Not Found")
    public static let methodNotAllowed = HTTPStatus(405, "Method Not Allowed")
    public static let requestTimeout = HTTPStatus(408, "Request Timeout")
    public static let conflict = HTTPStatus(409, "Conflict")
    public static let gone = HTTPStatus(410, "Gone")
    public static let lengthRequired = HTTPStatus(411, "Length Required")
    public static let payloadTooLarge = HTTPStatus(413, "Content Too Large")
    public static let uriTooLong = HTTPStatus(414, "URI Too Long")
    public static let unsupportedMediaType = HTTPStatus(415, "Unsupported Media Type")
    public static let expectationFailed = HTTPStatus(417, "Expectation Failed")
    public static let upgradeRequired = HTTPStatus(426, "Upgrade Required")
    public static let tooManyRequests = HTTPStatus(429, "Too Many Requests")
    public static let headerFieldsTooLarge = HTTPStatus(431, "Request Header Fields Too Large")
    public static let internalServerError = HTTPStatus(500, "Internal Server Error")
    public static let notImplemented = HTTPStatus(501, "Not Implemented")
    public static let serviceUnavailable = HTTPStatus(503, "Service Unavailable")
    public static let httpVersionNotSupported = HTTPStatus(505, "HTTP Version Not Supported")
}

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
        var out: [UInt8] = []
        out.reserveCapacity(64 + message.utf8.count)
        out.append(contentsOf: #"{"error":{"code":"#.utf8)
        JSONValue.appendString(code, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONValue.appendString(message, to: &out)
        for (key, rawJSON) in extra {
            out.append(UInt8(ascii: ","))
            JSONValue.appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: rawJSON.utf8)
        }
        out.append(contentsOf: "}}".utf8)
        return HTTPResponse(status: status, headers: headers, body: out)
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }
}
