import JSON
import Testing

/// Bad input gets one clear error: 400 `invalid_request` / `invalid_json`, 409
/// `user_exists`, 413 for a message body over 16 KiB.
@Suite(.timeLimit(.minutes(1)))
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
                        #"{"client_msg_id":"m1","body":1}x"#] {
                expectError(try alice.post(path, raw: raw), 400, "invalid_json")
            }
            expectError(try alice.post(path, raw: ""), 400, "invalid_json")
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
