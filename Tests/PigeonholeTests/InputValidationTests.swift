import Glibc
import JSON
import Testing

/// Bad input gets one clear error: 400 `invalid_request` / `invalid_json`, 409
/// `user_exists`, 413 for a message body over 16 KiB.
@Suite(.timeLimit(.minutes(3)))
struct InputValidationTests {
    private func createUser(_ server: TestServer, _ body: JSONValue) throws -> HTTPTestResponse {
        try server.admin.post("/v1/admin/users", json: body, token: TestServer.adminToken)
    }

    @Test func userAndDeviceNames() throws {
        try TestServer.with { server in
            let created = try createUser(server, ["name": "alice.b_c-9"])
            #expect(created.status == 201)
            #expect(created.json["name"]?.stringValue == "alice.b_c-9")
            #expect(created.json["id"]?.int64Value != nil)
            expectError(try createUser(server, ["name": "alice.b_c-9"]), 409, "user_exists")
            for bad: JSONValue in ["", "Alice", "al ice", "al/ice", "élise", .string(String(repeating: "a", count: 65)), 42, nil] {
                expectError(try createUser(server, ["name": bad]), 400, "invalid_request")
            }
            #expect(try createUser(server, ["name": .string(String(repeating: "a", count: 64))]).status == 201)
            expectError(try createUser(server, [:]), 400, "invalid_request")
            expectError(try server.admin.post("/v1/admin/users/alice.b_c-9/devices", json: ["name": ""],
                                              token: TestServer.adminToken), 400, "invalid_request")
            expectError(try server.admin.post("/v1/admin/users/alice.b_c-9/devices", json: ["name": "tab\there"],
                                              token: TestServer.adminToken), 400, "invalid_request")
        }
    }

    @Test func malformedAndMissingBodies() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let path = "/v1/rooms/\(room)/messages"
            for raw in [#"{"client_msg_id": "m1", "body": "#, "{'client_msg_id': 'm1'}", "not json", #"["a"]"#, "\"text\"",
                        #"{"client_msg_id":"m1","body":1}x"#,
                        // Numbers past a double: strict clients could not parse them if relayed.
                        #"{"client_msg_id":"m1","body":{"n":1e999999}}"#, #"{"client_msg_id":"m1","body":[-2e308]}"#] {
                expectError(try alice.post(path, raw: raw), 400, "invalid_json")
            }
            expectError(try alice.post(path, raw: ""), 400, "invalid_json")
            #expect(try alice.get(path).json["messages"]?.array.isEmpty == true)   // nothing was stored
            expectError(try server.admin.post("/v1/admin/users", raw: "{", token: TestServer.adminToken), 400, "invalid_json")
            // Well-formed, but missing or wrong fields.
            expectError(try alice.post(path, ["body": "hi"]), 400, "invalid_request")
            expectError(try alice.post(path, ["client_msg_id": "m1"]), 400, "invalid_request")
            expectError(try alice.post(path, ["client_msg_id": 7, "body": "hi"]), 400, "invalid_request")
            for id: JSONValue in ["", "has space", "tab\t", "é", .string(String(repeating: "x", count: 65))] {
                expectError(try alice.post(path, ["client_msg_id": id, "body": "hi"]), 400, "invalid_request")
            }
            #expect(try alice.post(path, ["client_msg_id": .string(String(repeating: "x", count: 64)), "body": "hi"]).status == 201)
            // Any JSON value is a body, null included.
            #expect(try alice.post(path, ["client_msg_id": "null-body", "body": nil]).status == 201)
            expectError(try alice.post("/v1/sync/ack", [:]), 400, "invalid_request")
            // Nothing but the two good messages was stored.
            #expect(try alice.get("/v1/rooms/\(room)").json["last_seq"]?.int64Value == 2)
        }
    }

    @Test func messageBodyLimitIs16KiBEncoded() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let path = "/v1/rooms/\(room)/messages"
            // A JSON string of n characters encodes to n + 2 bytes (its quotes).
            let atLimit = String(repeating: "a", count: 16 * 1024 - 2)
            let ok = try alice.post(path, ["client_msg_id": "big-ok", "body": .string(atLimit)])
            #expect(ok.status == 201)
            #expect(ok.json["body"]?.stringValue == atLimit)
            let tooBig = try alice.post(path, ["client_msg_id": "big-no", "body": .string(atLimit + "a")])
            expectError(tooBig, 413, "payload_too_large")
            // Far over: still a clean 413 and the connection stays usable.
            let huge = try alice.post(path, ["client_msg_id": "huge", "body": .string(String(repeating: "b", count: 40_000))])
            #expect(huge.status == 413)
            #expect(try alice.get("/v1/rooms/\(room)").json["last_seq"]?.int64Value == 1)

            // Over the 64 KiB request limit the transport refuses the body itself.
            let fresh = try server.connect()
            let overRequestLimit = try fresh.post(path, json: ["client_msg_id": "x", "body": .string(String(repeating: "c", count: 70_000))],
                                                  token: alice.token)
            expectError(overRequestLimit, 413, "payload_too_large")
            #expect(try alice.get("/v1/rooms/\(room)").json["last_seq"]?.int64Value == 1)
        }
    }
}

/// A body the server refuses before reading it (over the route's limit): the client is
/// still writing when the 413 goes out. The server reads and drops the rest before it
/// closes (a lingering close), so the client (or a proxy in front, which would turn a
/// reset into a 502) reads the 413 instead of a connection reset.
@Suite(.timeLimit(.minutes(3)))
struct LingeringCloseTests {
    @Test func aRefusedBodyStillBeingSentGetsItsAnswerNotAReset() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            _ = bob
            for size in [100 * 1024, 900 * 1024] {
                let client = try server.connect(timeout: 5)
                defer { client.close() }
                let body = Array(#"{"client_msg_id":"big","body":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: size) + Array(#""}"#.utf8)
                // The head and a first piece; the server answers 413 from the head alone.
                let head = "POST /v1/rooms/\(room)/messages HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(alice.token)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                client.writeRaw(Array(head.utf8) + body.prefix(16 * 1024))
                // The answer is out: the server has decided to close.
                #expect(client.waitReadable(timeout: 5), "\(size) bytes: no answer")
                // A client (or proxy) still sending the body, as nginx does before it reads
                // the answer: every piece is taken (acknowledged before the next is sent, so
                // a reset would fail the next write), none meets a reset.
                var accepted = true
                for piece in stride(from: 16 * 1024, to: body.count, by: 16 * 1024) where accepted {
                    accepted = client.writeRaw(Array(body[piece..<min(body.count, piece + 16 * 1024)])) && client.waitUntilTaken()
                }
                #expect(accepted, "\(size) bytes: the connection was reset while the body was still being sent")
                let r = try client.readResponse()
                #expect(r.status == 413, "\(size) bytes: \(r.status) \(r.text)")
                #expect(r.json["error"]?["code"]?.stringValue == "payload_too_large")
            }
            // Nothing was stored, and the server serves on.
            #expect(try alice.get("/v1/rooms/\(room)/messages").json["messages"]?.array.isEmpty == true)
        }
    }

    /// NUL and other control characters in a path segment or query part are refused
    /// before any route runs (libpq would have cut `bob%00x` to `bob`; issue 20, item 9).
    @Test func controlCharactersInPathsAndQueriesAreRefused() throws {
        try TestServer.with { server in
            try ControlCharacterChecks.run(server)
        }
    }
}

enum ControlCharacterChecks {
    /// The same answers on every backend.
    static func run(_ server: TestServer) throws {
        let alice = try server.createUser("alice", device: "phone")
        try server.createUser("bob")
        #expect(try alice.post("/v1/direct/bob", raw: "").status == 201)
        for path in ["/v1/direct/bob%00x", "/v1/direct/bob%0A", "/v1/direct/%1Fbob", "/v1/direct/bob%7F"] {
            expectError(try alice.post(path, raw: ""), 400, "malformed_path")
        }
        expectError(try server.admin.get("/v1/admin/users/bob%00/devices", token: TestServer.adminToken), 400, "malformed_path")
        for query in ["cursor=abc%00", "timeout=1%0D", "page=%09"] {
            expectError(try alice.get("/v1/sync?\(query)"), 400, "malformed_query")
        }
        expectError(try alice.get("/v1/conversations?page=x%00y"), 400, "malformed_query")
        // Spaces and other printable characters still decode.
        expectError(try alice.post("/v1/direct/no%20such", raw: ""), 404, "user_not_found")
    }
}
