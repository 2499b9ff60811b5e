import Foundation
import JSON
import Testing

/// Abuse limits: a per-device token bucket on sends, and on failed authentication per
/// client address; over the limit, 429 `rate_limited` with Retry-After and retry_after_ms.
@Suite(.timeLimit(.minutes(3)))
struct RateLimitTests {
    @Test func sendsOverTheDeviceBucketGet429ThenRecover() throws {
        let time = FakeClocks()
        try TestServer.with(configure: { $0.api.sendRatePerSecond = 5; $0.api.sendBurst = 10; $0.api.clocks = time.clocks }) { server in
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
            #expect(ms == 200)   // the clock stood still: exactly one token's time
            #expect(limited.header("Retry-After") == "1")
            // Another device is not affected.
            #expect(try bob.send(room, "b1", "hi").status == 201)
            // After waiting as told, the same send goes through (once).
            time.advance(milliseconds: Int64(ms))
            #expect(try alice.send(room, "over", "x").status == 201)
        }
    }

    /// Issue 13 item 7: room creation (groups and direct rooms) and member adds are
    /// limited per device; a limited request changes nothing and takes nothing.
    @Test func roomCreationAndMemberAddsOverTheDeviceBucketsGet429() throws {
        let time = FakeClocks()   // the buckets refill only when the test says so
        try TestServer.with(configure: {
            $0.api.roomRatePerSecond = 1; $0.api.roomBurst = 3
            $0.api.memberRatePerSecond = 1; $0.api.memberBurst = 6
            $0.api.clocks = time.clocks
        }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let tablet = try server.createDevice("alice", "tablet")
            for name in ["bob", "carol", "dave", "erin", "frank", "gina", "hal"] { _ = try server.createUser(name, device: "phone") }
            // Rooms: a direct room and two groups fill the burst of 3; the next is refused.
            _ = try alice.directRoom(with: "bob")
            let g1 = try alice.createGroup("one", members: ["carol"])
            _ = try alice.createGroup("two", members: ["dave"])
            let limited = try alice.post("/v1/rooms", ["name": "three", "members": ["erin"]])
            #expect(limited.status == 429)
            #expect(limited.json["error"]?["code"]?.stringValue == "rate_limited")
            #expect(limited.header("Retry-After") == "1")
            #expect(limited.json["error"]?["retry_after_ms"]?.intValue == 1000)
            #expect(try alice.post("/v1/direct/erin", raw: "").status == 429)
            // Nothing was created by the refused requests.
            let rooms = try alice.get("/v1/conversations?limit=50&preview=0").json["conversations"]?.arrayValue ?? []
            #expect(rooms.count == 3)
            // Another device of the same user has buckets of its own.
            #expect(try tablet.post("/v1/rooms", ["name": "three", "members": ["erin"]]).status == 201)

            // Members: 2 were named above (carol, dave), 4 remain of 6. Adding 5 is refused
            // whole, and costs nothing: adding 4 then passes.
            let five = try alice.post("/v1/rooms/\(g1)/members", ["members": ["erin", "frank", "gina", "hal", "dave"]])
            #expect(five.status == 429)
            #expect(five.json["error"]?["message"]?.stringValue?.contains("members") == true)
            let members = try alice.get("/v1/rooms/\(g1)/members").json["members"]?.arrayValue ?? []
            #expect(members.count == 2)
            #expect(try alice.post("/v1/rooms/\(g1)/members", ["members": ["erin", "frank", "gina", "hal"]]).status == 200)
            #expect(try alice.post("/v1/rooms/\(g1)/members", ["members": ["dave"]]).status == 429)
            // Once the buckets refilled (a second: one room, one member), both pass again.
            time.advance(milliseconds: 1000)
            #expect(try alice.post("/v1/rooms/\(g1)/members", ["members": ["dave"]]).status == 200)
            #expect(try alice.post("/v1/rooms", ["name": "four", "members": []]).status == 201)
        }
    }

    /// Membership churn (issue 20, item 4): removals count against the device's member
    /// bucket like adds, and every room has a bucket of the inbox rows its membership
    /// changes wrote, whoever made them, so adding and removing one user over and over
    /// in a room cannot write events into every member's inbox many times a second.
    @Test func membershipChangesAreLimitedPerDeviceAndPerRoom() throws {
        let time = FakeClocks()
        try TestServer.with(configure: {
            $0.api.memberRatePerSecond = 0.001; $0.api.memberBurst = 8   // a device's bucket does not refill here
            $0.api.roomMembershipRowsPerSecond = 1; $0.api.roomMembershipRowsBurst = 12
            $0.api.clocks = time.clocks
        }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            for name in ["bob", "dave", "erin"] { try server.createUser(name) }
            let room = try alice.createGroup("churn", members: ["bob", "carol"])   // 2 of alice's 8 member tokens
            let limits = try alice.get("/v1/limits").json
            #expect(limits["room_membership_rows_per_second"]?.int64Value == 1)
            #expect(limits["room_membership_rows_burst"]?.int64Value == 12)

            // Adding and removing dave writes an event for every member each time: the
            // room's 12 rows run out within a few changes, alice's 6 tokens do not.
            var changes = 0
            var refused: HTTPTestResponse?
            while changes < 6 && refused == nil {
                let r = changes % 2 == 0 ? try alice.post("/v1/rooms/\(room)/members", ["members": ["dave"]])
                                         : try alice.delete("/v1/rooms/\(room)/members/dave")
                if r.status == 429 { refused = r } else { #expect(r.status == 200 || r.status == 204); changes += 1 }
            }
            let limited = try #require(refused, "six membership changes of a 4-member room passed 12 rows")
            #expect(changes >= 2 && changes <= 4, "\(changes) changes before the room's bucket ran dry")
            #expect(limited.json["error"]?["message"]?.stringValue?.contains("membership changes in this room") == true)
            #expect(limited.header("Retry-After") != nil)
            // The room's bucket is the room's: carol is refused too, and nothing changed.
            let before = (try alice.get("/v1/rooms/\(room)/members").json["members"]?.array ?? []).compactMap { $0["user"]?.stringValue }
            #expect(try carol.post("/v1/rooms/\(room)/members", ["members": ["erin"]]).status == 429)
            #expect(try carol.delete("/v1/rooms/\(room)/members/bob").status == 429)
            #expect((try alice.get("/v1/rooms/\(room)/members").json["members"]?.array ?? []).compactMap { $0["user"]?.stringValue } == before)

            // Once the room's debt is paid, changes pass again, and removals counted
            // against alice's own bucket like adds: after 6 more changes it is empty.
            time.advance(milliseconds: 30_000)
            #expect(try carol.post("/v1/rooms/\(room)/members", ["members": ["erin"]]).status == 200)
            time.advance(milliseconds: 30_000)
            var own = 0
            while own < 10, try alice.post("/v1/rooms/\(room)/members", ["members": ["dave"]]).status != 429 {
                own += 1
                time.advance(milliseconds: 30_000)
                if try alice.delete("/v1/rooms/\(room)/members/dave").status == 429 { break }
                own += 1
                time.advance(milliseconds: 30_000)
            }
            #expect(changes + own == 6, "alice's 6 member tokens went to \(changes) + \(own) adds and removals")
        }
    }

    @Test func failedAuthenticationsFromOneAddressAreSlowedDown() throws {
        let time = FakeClocks()
        try TestServer.with(configure: {
            $0.api.authFailureRatePerSecond = 1; $0.api.authFailureBurst = 5; $0.api.clocks = time.clocks
        }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let client = try server.connect()
            // Failures on every kind of device route count: plain ones and the sync start.
            for i in 0..<5 {
                #expect(try client.get(i % 2 == 0 ? "/v1/sync?timeout=0" : "/v1/me", token: "ph_wrong").status == 401)
            }
            let r = try client.get("/v1/me", token: "ph_wrong")
            #expect(r.status == 429)
            #expect(r.json["error"]?["code"]?.stringValue == "rate_limited")
            #expect(r.header("Retry-After") != nil)
            #expect(try client.get("/v1/sync?timeout=0", token: "ph_wrong").status == 429)
            // Admin guesses count too.
            #expect(try client.post("/v1/admin/users", json: ["name": "x"], token: "bad").status == 429)
            // Others behind the same address (a NAT, a proxy) with valid tokens are never
            // refused for those failures: reads, writes, the sync start, the admin.
            #expect(try client.get("/v1/me", token: alice.token).status == 200)
            let cursor = try #require(client.get("/v1/conversations", token: alice.token).json["cursor"]?.stringValue)
            #expect(try client.get("/v1/sync?timeout=0&cursor=\(cursor)", token: alice.token).status == 200)
            #expect(try client.post("/v1/direct/alice", raw: "", token: alice.token).status != 429)
            #expect(try client.post("/v1/admin/users", json: ["name": "carol"], token: TestServer.adminToken).status == 201)
            #expect(try client.get("/v1/me", token: "ph_wrong").status == 429)   // still limited for guesses
            time.advance(milliseconds: 1000)
            #expect(try client.get("/v1/me", token: "ph_wrong").status == 401)
        }
    }
}
