import HTTPServer

/// Every error code the API answers with, each with its one HTTP status. The strings
/// are the contract (openapi.yaml `components/schemas/Error`, clients match on them):
/// never rename one. The transport's own codes (`malformed_request`, `request_timeout`,
/// `header_too_large`, `too_many_connections`, ...) are HTTPServer's (`HTTPParseError`)
/// and the WebSocket handshake's (`bad_handshake`, `upgrade_required`,
/// `unsupported_websocket_version`), answered by that layer.
enum ErrorCode: String, CaseIterable, Sendable {
    // 400
    case invalidRequest = "invalid_request"
    case invalidJSON = "invalid_json"
    case invalidCursor = "invalid_cursor"
    case cursorRequired = "cursor_required"
    case seqOutOfRange = "seq_out_of_range"
    case malformedQuery = "malformed_query"
    case malformedPath = "malformed_path"
    // 401, 403, 404, 405
    case unauthorized
    case notMember = "not_member"
    case notSender = "not_sender"
    case editWindowClosed = "edit_window_closed"
    case recallWindowClosed = "recall_window_closed"
    case forbidden
    case userNotFound = "user_not_found"
    case deviceNotFound = "device_not_found"
    case roomNotFound = "room_not_found"
    case messageNotFound = "message_not_found"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    // 409, 410, 413, 415, 429
    case roomLimit = "room_limit"
    case userExists = "user_exists"
    case idempotencyConflict = "idempotency_conflict"
    case messageDeleted = "message_deleted"
    case reactionLimit = "reaction_limit"
    case cursorExpired = "cursor_expired"
    case payloadTooLarge = "payload_too_large"
    case unsupportedMediaType = "unsupported_media_type"
    case rateLimited = "rate_limited"
    // 500, 503
    case `internal`
    case storageUnavailable = "storage_unavailable"
    case shuttingDown = "shutting_down"
    case unavailable

    var status: HTTPStatus {
        switch self {
        case .invalidRequest, .invalidJSON, .invalidCursor, .cursorRequired, .seqOutOfRange,
             .malformedQuery, .malformedPath:
            return .badRequest
        case .unauthorized: return .unauthorized
        case .notMember, .forbidden, .notSender, .editWindowClosed, .recallWindowClosed: return .forbidden
        case .userNotFound, .deviceNotFound, .roomNotFound, .messageNotFound, .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .roomLimit, .userExists, .idempotencyConflict, .messageDeleted, .reactionLimit: return .conflict
        case .cursorExpired: return .gone
        case .payloadTooLarge: return .payloadTooLarge
        case .unsupportedMediaType: return .unsupportedMediaType
        case .rateLimited: return .tooManyRequests
        case .internal: return .internalServerError
        case .storageUnavailable, .shuttingDown, .unavailable: return .serviceUnavailable
        }
    }
}
