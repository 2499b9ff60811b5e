import JSON
import Testing

/// 401s: device routes without a valid device token, admin routes without the admin
/// token, and a revoked device locked out on its very next request.
@Suite(.timeLimit(.minutes(3)))
struct AuthTests {
    @Test func deviceRoutesNeedAValidToken() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let anonymous = try server.connect()
            for path in ["/v1/me", "/v1/conversations", "/v1/unread", "/v1/sync?timeout=0"] {
                let none = try anonymous.get(path)
                expectError(none, 401, "unauthorized")
                #expect(none.header("WWW-Authenticate") == "Bearer")
                expectError(try anonymous.get(path, token: "ph_not-a-real-token"), 401, "unauthorized")
                expectError(try anonymous.get(path, token: alice.token + "x"), 401, "unauthorized")
            }
            expectError(try anonymous.post("/v1/direct/alice", raw: ""), 401, "unauthorized")
            expectError(try anonymous.post("/v1/rooms", json: ["name": "x"], token: TestServer.adminToken), 401, "unauthorized")
            // A valid token under another scheme is no bearer token.
            expectError(try anonymous.request("GET", "/v1/me", headers: [("Authorization", "Basic \(alice.token)")]),
                        401, "unauthorized")
            #expect(try alice.get("/v1/me").status == 200)
        }
    }

    @Test func revokedDeviceIsRefusedOnItsNextRequest() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            #expect(try phone.get("/v1/me").status == 200)

            let revoke = try server.admin.delete("/v1/admin/devices/\(phone.id)", token: TestServer.adminToken)
            #expect(revoke.status == 204)
            // Same keep-alive connection, next request: refused.
            expectError(try phone.get("/v1/me"), 401, "unauthorized")
            expectError(try phone.send(1, "x", "y"), 401, "unauthorized")
            // The user's other device is unaffected.
            #expect(try laptop.get("/v1/me").json["device"]?["name"]?.stringValue == "laptop")

            // Revoking twice is fine; an unknown device is 404.
            #expect(try server.admin.delete("/v1/admin/devices/\(phone.id)", token: TestServer.adminToken).status == 204)
            expectError(try server.admin.delete("/v1/admin/devices/999999", token: TestServer.adminToken), 404, "device_not_found")
            expectError(try server.admin.delete("/v1/admin/devices/abc", token: TestServer.adminToken), 400, "invalid_request")

            let devices = try server.admin.get("/v1/admin/users/alice/devices", token: TestServer.adminToken)
            #expect(devices.status == 200)
            let list = devices.json["devices"]?.array ?? []
            #expect(list.compactMap { $0["name"]?.stringValue } == ["phone", "laptop"])
            #expect(list.compactMap { $0["revoked"]?.boolValue } == [true, false])
            // Tokens are shown once, at creation, never listed.
            #expect(list.allSatisfy { $0["token"] == nil })
        }
    }

    @Test func adminRoutesNeedTheAdminToken() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let admin = server.admin
            for token in [nil, alice.token, "wrong", TestServer.adminToken + "x"] {
                expectError(try admin.post("/v1/admin/users", json: ["name": "mallory"], token: token), 401, "unauthorized")
                expectError(try admin.post("/v1/admin/users/alice/devices", json: ["name": "evil"], token: token), 401, "unauthorized")
                expectError(try admin.get("/v1/admin/users/alice/devices", token: token), 401, "unauthorized")
                expectError(try admin.delete("/v1/admin/devices/\(alice.id)", token: token), 401, "unauthorized")
            }
            // Nothing of the above happened.
            #expect(try alice.get("/v1/me").status == 200)
            expectError(try admin.get("/v1/admin/users/mallory/devices", token: TestServer.adminToken), 404, "user_not_found")
            let devices = try admin.get("/v1/admin/users/alice/devices", token: TestServer.adminToken)
            #expect(devices.json["devices"]?.array.count == 1)
        }
    }
}
