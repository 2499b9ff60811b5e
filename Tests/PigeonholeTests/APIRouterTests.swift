import HTTPServer
import SyncEngine
@testable import SyncAPI
import Testing

/// Route parsing without sockets: every operation of openapi.yaml resolves to its
/// `APIRoute` case with typed captures; what routing alone refuses is a typed error.
@Suite struct APIRouterTests {
    let router = APIRouter()

    /// One sample request per operation of openapi.yaml (templates as there).
    static let table: [(method: String, template: String, path: String, route: APIRoute)] = [
        ("GET", "/healthz", "/healthz", .health(.healthz)),
        ("GET", "/v1/limits", "/v1/limits", .health(.limits)),
        ("GET", "/metrics", "/metrics", .health(.metrics)),
        ("GET", "/v1/me", "/v1/me", .account(.me)),
        ("POST", "/v1/admin/users", "/v1/admin/users", .admin(.createUser)),
        ("GET", "/v1/admin/users/{name}/devices", "/v1/admin/users/alice/devices", .admin(.listDevices(UserName("alice")))),
        ("POST", "/v1/admin/users/{name}/devices", "/v1/admin/users/bob/devices", .admin(.createDevice(UserName("bob")))),
        ("DELETE", "/v1/admin/devices/{id}", "/v1/admin/devices/42", .admin(.revokeDevice(DeviceID(42)))),
        ("GET", "/v1/admin/pushes", "/v1/admin/pushes", .admin(.pushes)),
        ("DELETE", "/v1/admin/users/{name}", "/v1/admin/users/erin", .admin(.eraseUser(UserName("erin")))),
        ("GET", "/v1/admin/users/{name}/erasure", "/v1/admin/users/erin/erasure", .admin(.erasure(UserName("erin")))),
        ("POST", "/v1/direct/{name}", "/v1/direct/carol", .rooms(.direct(UserName("carol")))),
        ("POST", "/v1/rooms", "/v1/rooms", .rooms(.create)),
        ("GET", "/v1/rooms/{id}", "/v1/rooms/7", .rooms(.get(RoomID(7)))),
        ("GET", "/v1/rooms/{id}/members", "/v1/rooms/7/members", .members(.list(RoomID(7)))),
        ("POST", "/v1/rooms/{id}/members", "/v1/rooms/8/members", .members(.add(RoomID(8)))),
        ("DELETE", "/v1/rooms/{id}/members/{name}", "/v1/rooms/9/members/dave", .members(.remove(RoomID(9), UserName("dave")))),
        ("POST", "/v1/rooms/{id}/messages", "/v1/rooms/10/messages", .messages(.send(RoomID(10)))),
        ("GET", "/v1/rooms/{id}/messages", "/v1/rooms/11/messages", .messages(.history(RoomID(11)))),
        ("PATCH", "/v1/rooms/{id}/messages/{seq}", "/v1/rooms/11/messages/3", .messageChanges(.edit(RoomID(11), seq: 3))),
        ("DELETE", "/v1/rooms/{id}/messages/{seq}", "/v1/rooms/11/messages/4", .messageChanges(.recall(RoomID(11), seq: 4))),
        ("PUT", "/v1/rooms/{id}/messages/{seq}/reactions/{key}", "/v1/rooms/11/messages/5/reactions/%F0%9F%91%8D",
         .messageChanges(.react(RoomID(11), seq: 5, key: "👍"))),
        ("DELETE", "/v1/rooms/{id}/messages/{seq}/reactions/{key}", "/v1/rooms/11/messages/6/reactions/ok",
         .messageChanges(.unreact(RoomID(11), seq: 6, key: "ok"))),
        ("POST", "/v1/rooms/{id}/read", "/v1/rooms/12/read", .conversations(.markRead(RoomID(12)))),
        ("GET", "/v1/rooms/{id}/receipts", "/v1/rooms/13/receipts", .conversations(.receipts(RoomID(13)))),
        ("GET", "/v1/conversations", "/v1/conversations", .conversations(.list)),
        ("GET", "/v1/unread", "/v1/unread", .conversations(.unread)),
        ("GET", "/v1/sync", "/v1/sync", .sync(.pull)),
        ("POST", "/v1/sync/ack", "/v1/sync/ack", .sync(.ack)),
        ("GET", "/v1/notify", "/v1/notify", .notify(.socket)),
        ("POST", "/v1/notify/ticket", "/v1/notify/ticket", .notify(.ticket)),
    ]

    /// The web client's two paths are served before routing (WebClient).
    static let webClient: Set<OpenAPIDocument.Operation> = [.init(method: "GET", path: "/"), .init(method: "GET", path: "/app/{file}")]

    func route(_ method: String, _ path: String, query: String? = nil) -> Result<APIRouter.Target, APIError> {
        router.resolve(HTTPMethod(method), path: path, query: query).target
    }

    @Test func everyOperationOfTheContractHasARow() throws {
        let documented = try OpenAPIDocument.load().operations.subtracting(Self.webClient)
        let tested = Set(Self.table.map { OpenAPIDocument.Operation(method: $0.method, path: $0.template) })
        #expect(documented.count > 20)
        #expect(documented.subtracting(tested).isEmpty, "operations without a routing row")
        #expect(tested.subtracting(documented).isEmpty, "routes the contract does not document")
    }

    @Test func everyOperationMapsToItsCaseWithItsPatternAsLabel() throws {
        for row in Self.table {
            let (target, label) = router.resolve(HTTPMethod(row.method), path: row.path)
            #expect(try target.get() == .route(row.route), "\(row.method) \(row.path)")
            #expect(label == row.template, "metrics label of \(row.method) \(row.path)")
        }
        // HEAD is GET without the body; a query does not change the route.
        #expect(try route("HEAD", "/v1/rooms/7").get() == .route(.rooms(.get(RoomID(7)))))
        #expect(try route("GET", "/v1/sync", query: "cursor=abc&timeout=0").get() == .route(.sync(.pull)))
    }

    @Test func capturesArePercentDecodedPerSegment() throws {
        #expect(try route("POST", "/v1/direct/b%C3%B6b").get() == .route(.rooms(.direct(UserName("böb")))))
        #expect(try route("DELETE", "/v1/rooms/5/members/a%2Fb").get() == .route(.members(.remove(RoomID(5), UserName("a/b")))))
        #expect(try route("GET", "/v1/rooms/9223372036854775807").get() == .route(.rooms(.get(RoomID(Int64.max)))))
    }

    /// Ids are written one way only: a sign or a leading zero (`+2`, `0002`, `%2B2`)
    /// would name room 2 under another path (another cache key, another log line).
    @Test func aPathIDThatIsNotAPositiveIntegerIsInvalidRequest() throws {
        for path in ["/v1/rooms/abc", "/v1/rooms/0/members", "/v1/rooms/-3/messages", "/v1/rooms/1.5/receipts",
                     "/v1/rooms/9223372036854775808", "/v1/rooms/%31x/receipts", "/v1/rooms/+2", "/v1/rooms/%2B2/members",
                     "/v1/rooms/0002", "/v1/rooms/00", "/v1/rooms/ 2", "/v1/rooms/2%20"] {
            let (target, label) = router.resolve(.GET, path: path)
            guard case .failure(.badID(let what)) = target, what == "room id" else {
                Issue.record("\(path): \(target)")
                continue
            }
            #expect(label != nil, "a bad id still counts under its route's label")
        }
        guard case .failure(.badID(what: "device id")) = route("DELETE", "/v1/admin/devices/x") else {
            Issue.record("device id")
            return
        }
        guard case .failure(.badID(what: "seq")) = route("DELETE", "/v1/rooms/2/messages/+1") else {
            Issue.record("seq")
            return
        }
    }

    @Test func unknownPathsAre404AndUnknownMethods405WithAllow() throws {
        for path in ["/v1/nope", "/v1/rooms/1/nope", "/nope", "/v1", "/v1/rooms/1/members/bob/extra"] {
            guard case .failure(.notFound) = route("GET", path) else { Issue.record("\(path)"); return }
        }
        let cases: [(String, String, [String])] = [
            ("PUT", "/v1/rooms", ["POST", "OPTIONS"]),
            ("DELETE", "/v1/sync", ["GET", "HEAD", "OPTIONS"]),
            ("GET", "/v1/sync/ack", ["POST", "OPTIONS"]),
            ("PATCH", "/v1/rooms/3/members", ["GET", "POST", "HEAD", "OPTIONS"]),
        ]
        for (method, path, allow) in cases {
            guard case .failure(.methodNotAllowed(let m, let allowed)) = route(method, path) else {
                Issue.record("\(method) \(path)")
                continue
            }
            #expect(m.rawValue == method)
            #expect(allowed.map(\.rawValue) == allow, "\(method) \(path)")
        }
    }

    @Test func malformedPathsAndQueriesAreTheirOwnErrors() throws {
        guard case .failure(.malformedPath) = route("DELETE", "/v1/rooms/1/members/%FF") else { Issue.record("path"); return }
        guard case .failure(.malformedPath) = route("POST", "/v1/direct/a%00b") else { Issue.record("NUL"); return }
        guard case .failure(.malformedQuery) = route("GET", "/v1/sync", query: "cursor=%FF") else { Issue.record("query"); return }
        // The query is checked first, even on an unknown path.
        guard case .failure(.malformedQuery) = route("GET", "/v1/nope", query: "a=%0A") else { Issue.record("first"); return }
    }

    @Test func optionsListsThePathsMethods() throws {
        #expect(try route("OPTIONS", "/v1/rooms/5/messages").get() == .options(allow: [.POST, .GET, .HEAD, .OPTIONS]))
        #expect(try route("OPTIONS", "*").get() == .options(allow: [.DELETE, .GET, .PATCH, .POST, .PUT, .HEAD, .OPTIONS]))
        guard case .failure(.notFound) = route("OPTIONS", "/v1/nope") else { Issue.record("unknown path"); return }
    }

    @Test func routesWithABodyHaveTheSmallBodyLimitAndTheOthersTheTransports() throws {
        for row in Self.table {
            let limit = router.bodyLimit(method: HTTPMethod(row.method), path: row.path)
            #expect(limit == (["POST", "PATCH", "PUT"].contains(row.method) ? APIRoute.smallBody : nil), "\(row.method) \(row.path)")
        }
    }
}
