import HTTPServer
import SyncEngine

/// Errors of the API layer, and the one place any error becomes an HTTP response.
enum APIError: Error {
    case unauthorized
    case adminUnauthorized
    case badRequest(code: String, message: String)
    case status(HTTPStatus, code: String, message: String)
    case limited(ms: Int, what: String)
    case domain(SyncError)

    static func invalid(_ field: String, _ reason: String) -> APIError {
        .domain(.invalid(field: field, reason: reason))
    }

    var response: HTTPResponse {
        switch self {
        case .unauthorized:
            return .error(.unauthorized, code: "unauthorized", message: "missing, unknown or revoked device token",
                          headers: [("WWW-Authenticate", "Bearer")])
        case .adminUnauthorized:
            return .error(.unauthorized, code: "unauthorized", message: "missing or wrong admin token",
                          headers: [("WWW-Authenticate", "Bearer")])
        case .badRequest(let code, let message):
            return .error(.badRequest, code: code, message: message)
        case .status(let status, let code, let message):
            return .error(status, code: code, message: message)
        case .limited(let ms, let what):
            return .error(.tooManyRequests, code: "rate_limited", message: "too many \(what); retry later",
                          headers: [("Retry-After", String(max(1, (ms + 999) / 1000)))],
                          extra: [("retry_after_ms", String(ms))])
        case .domain(let e):
            return Self.response(for: e)
        }
    }

    static func response(for error: SyncError) -> HTTPResponse {
        switch error {
        case .invalid(let field, let reason):
            return .error(.badRequest, code: "invalid_request", message: "\(field): \(reason)")
        case .userNotFound(let name):
            return .error(.notFound, code: "user_not_found", message: "no user named \(name)")
        case .userExists(let name):
            return .error(.conflict, code: "user_exists", message: "a user named \(name) already exists")
        case .deviceNotFound:
            return .error(.notFound, code: "device_not_found", message: "no such device")
        case .roomNotFound:
            return .error(.notFound, code: "room_not_found", message: "no such room")
        case .notMember:
            return .error(.forbidden, code: "not_member", message: "you are not a member of this room")
        case .roomLimit(let user, let limit):
            return .error(.conflict, code: "room_limit", message: "\(user) is in \(limit) rooms, the most one user may be in; they must leave one first")
        case .forbidden(let why):
            return .error(.forbidden, code: "forbidden", message: why)
        case .invalidCursor(let why):
            return .error(.badRequest, code: "invalid_cursor", message: why)
        case .cursorRequired:
            return .error(.badRequest, code: "cursor_required",
                          message: "this device has never acked a cursor: load GET /v1/conversations and sync from its cursor")
        case .cursorExpired:
            return .error(.gone, code: "cursor_expired", message: "the cursor is older than the retained window; bootstrap again")
        case .idempotencyConflict:
            return .error(.conflict, code: "idempotency_conflict",
                          message: "client_msg_id was already used for a different message")
        case .bodyTooLarge(let limit):
            return .error(.payloadTooLarge, code: "payload_too_large", message: "message body over \(limit) bytes")
        case .seqOutOfRange(let last):
            return .error(.badRequest, code: "seq_out_of_range",
                          message: "seq is outside the messages of this room you can see (its last_seq is \(last))")
        case .rateLimited(let ms, let what):
            return APIError.limited(ms: ms, what: what).response
        case .storageUnavailable:
            return .error(.serviceUnavailable, code: "storage_unavailable", message: "storage is temporarily unavailable; retry",
                          headers: [("Retry-After", "1")])
        case .randomUnavailable:
            return .error(.serviceUnavailable, code: "unavailable", message: "the server cannot make a token right now; retry",
                          headers: [("Retry-After", "1")])
        case .shuttingDown:
            return .error(.serviceUnavailable, code: "shutting_down", message: "the server is shutting down; retry",
                          headers: [("Retry-After", "1")])
        }
    }
}
