import JSON
import Testing

/// `GET /v1/me`, `GET /v1/limits`, `GET`/`HEAD /healthz`.
@Suite(.timeLimit(.minutes(3)))
struct ServiceTests {
    @Test func meIdentifiesTheUserAndDeviceOfTheToken() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let me = try phone.get("/v1/me")
            #expect(me.status == 200)
            #expect(me.header("Content-Type")?.hasPrefix("application/json") == true)
            let userID = try #require(me.json["user"]?["id"]?.int64Value)
            #expect(me.json == [
                "user": ["id": .int(userID), "name": "alice"],
                "device": ["id": .int(phone.id), "name": "phone"],
            ])
            let other = try laptop.get("/v1/me")
            #expect(other.json["user"]?["id"]?.int64Value == userID)
            #expect(other.json["device"]?["id"]?.int64Value == laptop.id)
            #expect(other.json["device"]?["name"]?.stringValue == "laptop")
        }
    }

    @Test func limitsArePublished() throws {
        try TestServer.with { server in
            let r = try server.connect().get("/v1/limits")
            #expect(r.status == 200)
            let expected: [(String, Int64)] = [
                ("poll_timeout_default_s", 30), ("poll_timeout_max_s", 55),
                ("pull_limit_default", 100), ("pull_limit_max", 1000),
                ("history_limit_default", 20), ("history_limit_max", 100),
                ("conversations_limit_default", 20), ("conversations_limit_max", 100),
                ("preview_max", 20),
                ("message_body_max_bytes", 16384), ("request_body_max_bytes", 65536),
                ("client_msg_id_max_chars", 64), ("members_per_request_max", 1000),
                // The fixture turns the send limit off (0); the burst stays at its default.
                ("send_rate_per_second", 0), ("send_burst", 40), ("page_max_bytes", 1_048_576),
            ]
            for (key, value) in expected { #expect(r.json[key]?.int64Value == value, "\(key)") }
            // Room for more limits later, but every one is a non-negative integer.
            guard case .object(let fields) = r.json else { Issue.record("not an object: \(r.text)"); return }
            #expect(fields.allSatisfy { ($0.1.int64Value ?? -1) >= 0 }, "\(r.text)")
        }
    }

    @Test func healthzAnswersGetAndHead() throws {
        try TestServer.with { server in
            let client = try server.connect()
            let get = try client.get("/healthz")
            #expect(get.status == 200)
            #expect(get.json == ["status": "ok"])
            let head = try client.head("/healthz")
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == String(get.body.count))
            // HEAD sent no body: the next response on the connection parses cleanly.
            let again = try client.get("/healthz")
            #expect(again.status == 200)
            #expect(again.json == ["status": "ok"])
        }
    }
}
