import HTTPServer
import JSON
@testable import SyncAPI
import Testing

/// What routing alone answers (before any token or database is looked at), as one test
/// body run twice: against the router and the error mapping alone, without sockets, and
/// against a live server on port 0. Both must give the same statuses, codes and `Allow`.
@Suite(.timeLimit(.minutes(3)))
struct RoutingAnswerTests {
    typealias Send = (_ method: String, _ target: String) throws -> HTTPTestResponse

    static func routingAnswers(_ send: Send) throws {
        for target in ["/v1/nope", "/v1/rooms/1/nope", "/nope", "/v1/rooms/1/members/bob/x"] {
            expectError(try send("GET", target), 404, "not_found")
        }

        let put = try send("PUT", "/v1/rooms")
        expectError(put, 405, "method_not_allowed")
        #expect(put.header("Allow") == "POST, OPTIONS")
        let del = try send("DELETE", "/v1/sync")
        expectError(del, 405, "method_not_allowed")
        #expect(del.header("Allow") == "GET, HEAD, OPTIONS")
        // A method of 500 letters is named in the message only by its first 64.
        let long = try send(String(repeating: "X", count: 500), "/v1/rooms")
        expectError(long, 405, "method_not_allowed")
        #expect((long.json["error"]?["message"]?.stringValue?.count ?? 1000) < 100)
        let patch = try send("PATCH", "/v1/rooms/3/members")
        expectError(patch, 405, "method_not_allowed")
        #expect(patch.header("Allow") == "GET, POST, HEAD, OPTIONS")

        // A path id that is not a positive integer: 400 before the token is looked at.
        for (method, target) in [("GET", "/v1/rooms/abc"), ("POST", "/v1/rooms/0/messages"), ("DELETE", "/v1/admin/devices/-1")] {
            let r = try send(method, target)
            expectError(r, 400, "invalid_request")
            #expect(r.header("WWW-Authenticate") == nil)
        }
        expectError(try send("DELETE", "/v1/rooms/1/members/%FF"), 400, "malformed_path")
        expectError(try send("GET", "/v1/sync?cursor=%FF"), 400, "malformed_query")

        let options = try send("OPTIONS", "/v1/rooms/5/messages")
        #expect(options.status == 204)
        #expect(options.header("Allow") == "POST, GET, HEAD, OPTIONS")
        #expect(try send("OPTIONS", "*").header("Allow") == "DELETE, GET, PATCH, POST, PUT, HEAD, OPTIONS")
        expectError(try send("OPTIONS", "/v1/nope"), 404, "not_found")
    }

    @Test func theRouterAlone() throws {
        let router = APIRouter()
        try Self.routingAnswers { method, target in
            let parts = target.split(separator: "?", maxSplits: 1).map(String.init)
            let (resolved, _) = router.resolve(HTTPMethod(method), path: parts[0], query: parts.count > 1 ? parts[1] : nil)
            let response: HTTPResponse
            switch resolved {
            case .failure(let error): response = APIError.response(for: error, log: .silent)
            case .success(.options(let allow)): response = APIRouter.optionsResponse(allow: allow)
            case .success(.route(let route)): throw TestFailure("\(method) \(target) routed to \(route): a handler would answer")
            }
            return HTTPTestResponse(status: response.status.code, headers: response.headers, body: response.body)
        }
    }

    @Test func aLiveServer() throws {
        try TestServer.with { server in
            let client = try server.connect()
            try Self.routingAnswers { method, target in try client.request(method, target) }
            // The keep-alive connection survived every answer.
            #expect(try client.get("/v1/limits").status == 200)
        }
    }
}
