import Foundation
import JSON
import Testing

/// Abuse limits: a per-device token bucket on sends, and on failed authentication per
/// client address; over the limit, 429 `rate_limited` with Retry-After and retry_after_ms.
@Suite(.timeLimit(.minutes(1)))
struct RateLimitTests {
    @Test func sendsOverTheDeviceBucketGet429ThenRecover() throws {
        try TestServer.with(configure: { $0.api.sendRatePerSecond = 5; $0.api.sendBurst = 10 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            var statuses: [Int] = []
            for i in 0..<15 { statuses.append(try alice.send(room, "m\(i)", "hi \(i)").status) }
            #expect(statuses.prefix(10).allSatisfy { $0 == 201 })
            let limited = try alice.send(room, "over", "x")
            #expect(limited.status == 429)
            let err = try #require(limited.json["error"])
            #expect(err["code"]?.stringValue == "rate_limited")
            let ms = try #require(err["retry_after_ms"]?.intValue)
            #expect(ms > 0 && ms <= 200)
            #expect(limited.header("Retry-After") == "1")
            // Another device is not affected.
            #expect(try bob.send(room, "b1", "hi").status == 201)
            // After waiting as told, the same send goes through (once).
            usleep(UInt32(ms + 20) * 1000)
            #expect(try alice.send(room, "over", "x").status == 201)
        }
    }

    @Test func failedAuthenticationsFromOneAddressAreSlowedDown() throws {
        try TestServer.with(configure: { $0.api.authFailureRatePerSecond = 1; $0.api.authFailureBurst = 5 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let client = try server.connect()
            for _ in 0..<5 { #expect(try client.get("/v1/me", token: "ph_wrong").status == 401) }
            let r = try client.get("/v1/me", token: "ph_wrong")
            #expect(r.status == 429)
            #expect(r.json["error"]?["code"]?.stringValue == "rate_limited")
            #expect(r.header("Retry-After") != nil)
            // While limited, even a right token from that address waits (guessing gains nothing).
            #expect(try client.get("/v1/me", token: alice.token).status == 429)
            // Admin guesses count too.
            #expect(try client.post("/v1/admin/users", json: ["name": "x"], token: "bad").status == 429)
            sleep(1)
            #expect(try client.get("/v1/me", token: alice.token).status == 200)
        }
    }
}
