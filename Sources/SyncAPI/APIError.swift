import HTTPServer
import SyncEngine

/// Everything that can go wrong in the API layer, as a closed set. Handlers throw
/// these (or the domain's `SyncError`); `APIError.response(for:log:)` is the one place
/// any error becomes an HTTP response (APIError+Response.swift).
enum APIError: Error, Sendable {
    // Routing (APIRouter).
    /// No route has this path.
    case notFound
    /// The path exists, `method` does not: `allow` lists the ones it has.
    case methodNotAllowed(HTTPMethod, allow: [HTTPMethod])
    /// The query string is not valid percent-encoded UTF-8 without control characters.
    case malformedQuery
    /// A path segment is not valid percent-encoded UTF-8 without control characters.
    case malformedPath
    /// A path id (`what`: "room id", "device id") is not a positive integer.
    case badID(what: String)

    // The request's input (RequestInput).
    /// A request refused as a whole, with why (`invalid_request`).
    case invalidRequest(String)
    /// The body is empty, not JSON or not an object.
    case invalidJSON(String)
    /// A body with a media type other than JSON's (or curl's default).
    case unsupportedMediaType

    // Who is asking, and how often.
    /// A missing, unknown or revoked device token.
    case unauthorized
    /// A missing or wrong admin token.
    case adminUnauthorized
    /// Over a token bucket (`what` is the bucket, for the message): retry after `ms`.
    case rateLimited(ms: Int, what: String)

    // Outcomes of particular routes.
    /// `GET /v1/sync` from a pruned cursor: 410 whose body also carries the first screen.
    case cursorExpired(firstScreen: ConversationPage)
    /// `/healthz` could not read the database.
    case healthCheckFailed

    /// The domain said no (SyncEngine), or the store failed (`storageUnavailable`,
    /// `shuttingDown`).
    case domain(SyncError)

    /// Something nobody expected (a state the code rules out, an error of an unknown
    /// type): 500 `internal`, logged with `detail`, which the client never sees.
    case unexpected(detail: String)

    /// 400 `invalid_request` for one field.
    static func invalid(_ field: String, _ reason: String) -> APIError {
        .domain(.invalid(field: field, reason: reason))
    }
}
