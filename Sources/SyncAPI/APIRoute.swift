import HTTPServer
import SyncEngine

/// Every endpoint of openapi.yaml, as a closed enum with typed captures, grouped by the
/// resource whose handlers serve it (each group's cases are that handler's `Route`).
/// Parsed once per request by `APIRouter`; a handler never looks at the path again.
enum APIRoute: Equatable, Sendable {
    case health(HealthHandlers.Route)
    case account(AccountHandlers.Route)
    case admin(AdminHandlers.Route)
    case rooms(RoomHandlers.Route)
    case members(MemberHandlers.Route)
    case messages(MessageHandlers.Route)
    case messageChanges(MessageChangeHandlers.Route)
    case conversations(ConversationHandlers.Route)
    case sync(SyncHandlers.Route)
    case notify(NotifyHandlers.Route)

    /// The body limit of every POST route (`request_body_max_bytes` in `/v1/limits`);
    /// the others have the transport's.
    static let smallBody = 64 * 1024

    /// The routing table: method, pattern (`{x}` is a capture, percent-decoded), body
    /// limit, and the route (or how the captures become one, or a 400 for a path id that
    /// is not a positive integer, answered before the token is looked at). Also returns
    /// every method some route has (for `OPTIONS *`).
    static func table() -> (router: Router<Result<APIRoute, APIError>>, methods: Set<HTTPMethod>) {
        var r = Router<Result<APIRoute, APIError>>()
        var methods: Set<HTTPMethod> = []
        func add(_ method: HTTPMethod, _ pattern: String, body: Int? = nil,
                 _ make: @escaping @Sendable ([String]) -> Result<APIRoute, APIError>) {
            methods.insert(method)
            r.add(method, pattern, bodyLimit: body, make)
        }
        func add(_ method: HTTPMethod, _ pattern: String, body: Int? = nil, _ route: APIRoute) {
            add(method, pattern, body: body) { _ in .success(route) }
        }
        add(.GET, "/healthz", .health(.healthz))
        add(.GET, "/v1/limits", .health(.limits))
        add(.GET, "/v1/me", .account(.me))
        add(.POST, "/v1/admin/users", body: smallBody, .admin(.createUser))
        add(.GET, "/v1/admin/users/{name}/devices") { .success(.admin(.listDevices(UserName($0[0])))) }
        add(.POST, "/v1/admin/users/{name}/devices", body: smallBody) { .success(.admin(.createDevice(UserName($0[0])))) }
        add(.DELETE, "/v1/admin/devices/{id}") { id($0[0], "device id").map { .admin(.revokeDevice(DeviceID($0))) } }
        add(.GET, "/v1/admin/pushes", .admin(.pushes))
        add(.DELETE, "/v1/admin/users/{name}") { .success(.admin(.eraseUser(UserName($0[0])))) }
        add(.GET, "/v1/admin/users/{name}/erasure") { .success(.admin(.erasure(UserName($0[0])))) }
        add(.GET, "/metrics", .health(.metrics))
        add(.POST, "/v1/direct/{name}", body: smallBody) { .success(.rooms(.direct(UserName($0[0])))) }
        add(.POST, "/v1/rooms", body: smallBody, .rooms(.create))
        add(.GET, "/v1/rooms/{id}") { room($0).map { .rooms(.get($0)) } }
        add(.GET, "/v1/rooms/{id}/members") { room($0).map { .members(.list($0)) } }
        add(.POST, "/v1/rooms/{id}/members", body: smallBody) { room($0).map { .members(.add($0)) } }
        add(.DELETE, "/v1/rooms/{id}/members/{name}") { p in room(p).map { .members(.remove($0, UserName(p[1]))) } }
        add(.POST, "/v1/rooms/{id}/messages", body: smallBody) { room($0).map { .messages(.send($0)) } }
        add(.GET, "/v1/rooms/{id}/messages") { room($0).map { .messages(.history($0)) } }
        add(.PATCH, "/v1/rooms/{id}/messages/{seq}", body: smallBody) { p in
            room(p).flatMap { r in id(p[1], "seq").map { .messageChanges(.edit(r, seq: $0)) } }
        }
        add(.DELETE, "/v1/rooms/{id}/messages/{seq}") { p in
            room(p).flatMap { r in id(p[1], "seq").map { .messageChanges(.recall(r, seq: $0)) } }
        }
        add(.PUT, "/v1/rooms/{id}/messages/{seq}/reactions/{key}", body: smallBody) { p in
            room(p).flatMap { r in id(p[1], "seq").map { .messageChanges(.react(r, seq: $0, key: p[2])) } }
        }
        add(.DELETE, "/v1/rooms/{id}/messages/{seq}/reactions/{key}") { p in
            room(p).flatMap { r in id(p[1], "seq").map { .messageChanges(.unreact(r, seq: $0, key: p[2])) } }
        }
        add(.POST, "/v1/rooms/{id}/read", body: smallBody) { room($0).map { .conversations(.markRead($0)) } }
        add(.GET, "/v1/rooms/{id}/receipts") { room($0).map { .conversations(.receipts($0)) } }
        add(.GET, "/v1/sync", .sync(.pull))
        add(.POST, "/v1/sync/ack", body: smallBody, .sync(.ack))
        add(.GET, "/v1/conversations", .conversations(.list))
        add(.GET, "/v1/unread", .conversations(.unread))
        add(.GET, "/v1/notify", .notify(.socket))
        add(.POST, "/v1/notify/ticket", body: smallBody, .notify(.ticket))
        return (r, methods)
    }

    private static func room(_ captures: [String]) -> Result<RoomID, APIError> {
        id(captures[0], "room id").map(RoomID.init)
    }

    /// A positive decimal written one way only: no sign, no leading zero.
    private static func id(_ text: String, _ what: String) -> Result<Int64, APIError> {
        guard let first = text.utf8.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9"),
              let id = Int64(text), id > 0 else { return .failure(.badID(what: what)) }
        return .success(id)
    }
}
