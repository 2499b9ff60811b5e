import HTTPServer
import SyncEngine

/// Every endpoint, as a closed enum with typed captures (openapi.yaml is the contract).
enum APIRoute: Sendable {
    case healthz
    case limits
    case me
    case adminCreateUser
    case adminListDevices(user: String)
    case adminCreateDevice(user: String)
    case adminRevokeDevice(DeviceID)
    case adminPushes
    case metrics
    case direct(user: String)
    case createRoom
    case getRoom(RoomID)
    case listMembers(RoomID)
    case addMembers(RoomID)
    case removeMember(RoomID, user: String)
    case send(RoomID)
    case history(RoomID)
    case markRead(RoomID)
    case receipts(RoomID)
    case sync
    case ack
    case conversations
    case unread
    case notify
    case notifyTicket
    /// A path parameter that should be an id was not one.
    case badID(String)

    static let smallBody = 64 * 1024

    static func makeRouter() -> Router<APIRoute> {
        var r = Router<APIRoute>()
        r.add(.GET, "/healthz") { _ in .healthz }
        r.add(.GET, "/v1/limits") { _ in .limits }
        r.add(.GET, "/v1/me") { _ in .me }
        r.add(.POST, "/v1/admin/users", bodyLimit: smallBody) { _ in .adminCreateUser }
        r.add(.GET, "/v1/admin/users/{name}/devices") { .adminListDevices(user: $0[0]) }
        r.add(.POST, "/v1/admin/users/{name}/devices", bodyLimit: smallBody) { .adminCreateDevice(user: $0[0]) }
        r.add(.DELETE, "/v1/admin/devices/{id}") { p in
            guard let id = Int64(p[0]), id > 0 else { return .badID("device id") }
            return .adminRevokeDevice(DeviceID(id))
        }
        r.add(.GET, "/v1/admin/pushes") { _ in .adminPushes }
        r.add(.GET, "/metrics") { _ in .metrics }
        r.add(.POST, "/v1/direct/{name}", bodyLimit: smallBody) { .direct(user: $0[0]) }
        r.add(.POST, "/v1/rooms", bodyLimit: smallBody) { _ in .createRoom }
        r.add(.GET, "/v1/rooms/{id}") { room($0) { .getRoom($0) } }
        r.add(.GET, "/v1/rooms/{id}/members") { room($0) { .listMembers($0) } }
        r.add(.POST, "/v1/rooms/{id}/members", bodyLimit: smallBody) { room($0) { .addMembers($0) } }
        r.add(.DELETE, "/v1/rooms/{id}/members/{name}") { p in room(p) { .removeMember($0, user: p[1]) } }
        r.add(.POST, "/v1/rooms/{id}/messages", bodyLimit: smallBody) { room($0) { .send($0) } }
        r.add(.GET, "/v1/rooms/{id}/messages") { room($0) { .history($0) } }
        r.add(.POST, "/v1/rooms/{id}/read", bodyLimit: smallBody) { room($0) { .markRead($0) } }
        r.add(.GET, "/v1/rooms/{id}/receipts") { room($0) { .receipts($0) } }
        r.add(.GET, "/v1/sync") { _ in .sync }
        r.add(.POST, "/v1/sync/ack", bodyLimit: smallBody) { _ in .ack }
        r.add(.GET, "/v1/conversations") { _ in .conversations }
        r.add(.GET, "/v1/unread") { _ in .unread }
        r.add(.GET, "/v1/notify") { _ in .notify }
        r.add(.POST, "/v1/notify/ticket", bodyLimit: smallBody) { _ in .notifyTicket }
        return r
    }

    private static func room(_ p: [String], _ make: (RoomID) -> APIRoute) -> APIRoute {
        guard let id = Int64(p[0]), id > 0 else { return .badID("room id") }
        return make(RoomID(id))
    }
}
