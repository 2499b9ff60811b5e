import JSON
import Testing

/// Routing answers on its own: 404 `not_found`, 405 `method_not_allowed` with Allow.
@Suite(.timeLimit(.minutes(3)))
struct RoutingTests {
    @Test func unknownPathsAndMethods() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            expectError(try alice.get("/v1/nope"), 404, "not_found")
            expectError(try alice.get("/v1/rooms/1/nope"), 404, "not_found")
            expectError(try alice.get("/nope"), 404, "not_found")   // "/" is the web client (WebClientTests)

            let put = try alice.client.request("PUT", "/v1/rooms", token: alice.token, body: Array("{}".utf8))
            expectError(put, 405, "method_not_allowed")
            #expect(put.header("Allow")?.contains("POST") == true)
            let del = try alice.delete("/v1/sync")
            expectError(del, 405, "method_not_allowed")
            #expect(del.header("Allow")?.split(separator: ",").map { $0.trimmingPrefix(" ") } == ["GET", "HEAD", "OPTIONS"])
            expectError(try alice.get("/v1/sync/ack"), 405, "method_not_allowed")
            expectError(try alice.post("/v1/me", raw: "{}"), 405, "method_not_allowed")
            // The keep-alive connection survived every error.
            #expect(try alice.get("/v1/me").status == 200)
        }
    }
}
