import HTTPServer
import JSON
import Logging
import SyncEngine

/// The one place an error becomes an HTTP response: `{"error":{"code":..,"message":..}}`
/// with the code's status (ErrorCode), plus the headers the code promises
/// (`WWW-Authenticate`, `Allow`, `Retry-After`). Storage failures the store reports as
/// such stay 503 `storage_unavailable`; an error of any other type is a bug: 500
/// `internal`, logged, and its text never reaches the client.
extension APIError {
    static func response(for error: any Error, log: Logger) -> HTTPResponse {
        let known: APIError
        switch error {
        case let e as APIError: known = e
        case SyncError.rateLimited(let ms, let what): known = .rateLimited(ms: ms, what: what)   // a cluster-wide bucket
        case SyncError.unexpected(let detail): known = .unexpected(detail: detail)
        case let e as SyncError: known = .domain(e)
        default: known = .unexpected(detail: String(reflecting: error))
        }
        if case .unexpected(let detail) = known {
            log.error("unexpected error", ["error": detail])
        }
        return known.response
    }

    /// The response (without logging: use `response(for:log:)`).
    var response: HTTPResponse {
        switch self {
        case .cursorExpired(let page):
            return json(.gone) { w in
                w.object { w in
                    w.key("error")
                    w.object { w in
                        w.field("code", ErrorCode.cursorExpired.rawValue)
                        w.field("message", "events after this cursor were pruned; start again from first_screen.cursor")
                    }
                    w.key("first_screen")
                    Encode.conversations(page, &w)
                }
            }
        default:
            let (code, message) = described
            return .error(code.status, code: code.rawValue, message: message, headers: headers, extra: extra)
        }
    }

    /// What a client sent, as an error message repeats it: at most 64 characters (a
    /// method or a name can be as long as the request head allows; the message needs only
    /// enough to recognize it).
    static func echo(_ text: String) -> String {
        text.count <= 64 ? text : String(text.prefix(64)) + "..."
    }

    /// The code and the message for humans.
    private var described: (ErrorCode, String) {
        switch self {
        case .notFound: return (.notFound, "no such resource")
        case .methodNotAllowed(let method, _): return (.methodNotAllowed, "\(Self.echo(method.rawValue)) is not allowed here")
        case .malformedQuery:
            return (.malformedQuery, "query string is not valid percent-encoded UTF-8 without control characters")
        case .malformedPath:
            return (.malformedPath, "path is not valid percent-encoded UTF-8 without control characters")
        case .badID(let what): return (.invalidRequest, "\(what) must be a positive integer, in decimal digits without a sign or leading zeros")
        case .invalidRequest(let message): return (.invalidRequest, message)
        case .invalidJSON(let message): return (.invalidJSON, message)
        case .unsupportedMediaType: return (.unsupportedMediaType, "send the body as application/json")
        case .unauthorized: return (.unauthorized, "missing, unknown or revoked device token")
        case .adminUnauthorized: return (.unauthorized, "missing or wrong admin token")
        case .rateLimited(_, let what): return (.rateLimited, "too many \(what); retry later")
        case .cursorExpired: return (.cursorExpired, "events after this cursor were pruned; start again from first_screen.cursor")
        case .healthCheckFailed: return (.storageUnavailable, "the database cannot be read")
        case .domain(let e): return Self.described(e)
        case .unexpected: return (.internal, "the server failed unexpectedly; the error was logged")
        }
    }

    /// Domain errors to codes, in one place.
    private static func described(_ error: SyncError) -> (ErrorCode, String) {
        switch error {
        case .invalid(let field, let reason): return (.invalidRequest, "\(field): \(reason)")
        case .userNotFound(let name): return (.userNotFound, "no user named \(Self.echo(name))")
        case .userExists(let name): return (.userExists, "a user named \(Self.echo(name)) already exists")
        case .deviceNotFound: return (.deviceNotFound, "no such device")
        case .roomNotFound: return (.roomNotFound, "no such room")
        case .notMember: return (.notMember, "you are not a member of this room")
        case .roomLimit(let user, let limit):
            return (.roomLimit, "\(user) is in \(limit) rooms, the most one user may be in; they must leave one first")
        case .forbidden(let why): return (.forbidden, why)
        case .invalidCursor(let why): return (.invalidCursor, why)
        case .cursorRequired:
            return (.cursorRequired, "this device has never acked a cursor: load GET /v1/conversations and sync from its cursor")
        case .cursorExpired: return (.cursorExpired, "the cursor is older than the retained window; bootstrap again")
        case .idempotencyConflict: return (.idempotencyConflict, "client_msg_id was already used for a different message")
        case .bodyTooLarge(let limit): return (.payloadTooLarge, "message body over \(limit) bytes")
        case .seqOutOfRange(let last):
            return (.seqOutOfRange, "seq is outside the messages of this room you can see (its last_seq is \(last))")
        case .storageUnavailable: return (.storageUnavailable, "storage is temporarily unavailable; retry")
        case .messageNotFound: return (.messageNotFound, "no message at this seq that you can see")
        case .notSender(let why): return (.notSender, why)
        case .editWindowClosed(let ms): return (.editWindowClosed, "a message can be edited for \(ms / 1000) s after it is sent")
        case .recallWindowClosed(let ms):
            return (.recallWindowClosed, "a message can be recalled by its sender for \(ms / 1000) s after it is sent")
        case .messageDeleted: return (.messageDeleted, "the message was recalled")
        case .reactionLimit(let n): return (.reactionLimit, "a message has at most \(n) distinct reaction keys")
        case .randomUnavailable: return (.unavailable, "the server cannot make a token right now; retry")
        case .shuttingDown: return (.shuttingDown, "the server is shutting down; retry")
        case .rateLimited(_, let what): return (.rateLimited, "too many \(what); retry later")
        case .unexpected: return (.internal, "the server failed unexpectedly; the error was logged")
        }
    }

    /// The headers the error's code promises.
    private var headers: [(name: String, value: String)] {
        switch self {
        case .unauthorized, .adminUnauthorized: return [("WWW-Authenticate", "Bearer")]
        case .methodNotAllowed(_, let allow): return [("Allow", allow.map(\.rawValue).joined(separator: ", "))]
        case .rateLimited(let ms, _), .domain(.rateLimited(let ms, _)): return [("Retry-After", String(max(1, (ms + 999) / 1000)))]
        case .domain(.storageUnavailable), .domain(.randomUnavailable), .domain(.shuttingDown): return [("Retry-After", "1")]
        default: return []   // healthCheckFailed too: a load balancer polls /healthz on its own schedule
        }
    }

    /// Fields next to `code` and `message` (raw JSON values).
    private var extra: [(String, String)] {
        if case .rateLimited(let ms, _) = self { return [("retry_after_ms", String(ms))] }
        if case .domain(.rateLimited(let ms, _)) = self { return [("retry_after_ms", String(ms))] }
        return []
    }
}
