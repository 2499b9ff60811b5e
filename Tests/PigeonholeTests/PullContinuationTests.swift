import Foundation
import JSON
import PostgresTestSupport
@testable import SyncAPI
import Testing

/// A pull costs one read when it is behind (the start's snapshot reads the page), and
/// none when it is the re-poll of a pull just answered at the head on the same
/// connection (`PullContinuations`); news in between, a revocation, or a cursor the
/// node did not hand out make the re-poll read, and nothing is lost either way.
@Suite(.timeLimit(.minutes(3)))
struct PullContinuationTests {
    /// A pull from behind is answered from the start's own read: one read, the page a
    /// pull always gave.
    @Test func aPullBehindIsAnsweredFromOneRead() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let cursor = try alice.conversationsCursor()
            try bob.sendOK(room, "m1", "one")
            try bob.sendOK(room, "m2", "two")
            for timeout in [0, 10] {
                let reads = server.engine.readsStarted.count
                let r = try alice.get("/v1/sync?cursor=\(cursor)&timeout=\(timeout)")
                #expect(server.engine.readsStarted.count - reads == 1)
                #expect(r.status == 200)
                #expect(ReceivedMessage.from(r.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1", "m2"])
                #expect(r.json["has_more"]?.boolValue == false)
            }
            // Cut by the limit: the same page, with its continuation.
            let first = try alice.get("/v1/sync?cursor=\(cursor)&timeout=10&limit=1")
            #expect(ReceivedMessage.from(first.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1"])
            #expect(first.json["has_more"]?.boolValue == true)
        }
    }

    /// The re-poll of a pull answered from its news parks with no read at all, and the
    /// next message reaches it; so does the re-poll after that.
    @Test func theRePollOfAnAnsweredPullParksWithoutARead() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            var cursor = try alice.conversationsCursor()
            let phone = try server.connect(timeout: 15)
            // The first pull reads (its token unknown to the node until then), then parks.
            phone.send("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            for i in 1...3 {
                let reads = server.engine.readsStarted.count
                try bob.sendOK(room, "m\(i)", "message \(i)")
                let answer = try phone.readResponse()
                #expect(ReceivedMessage.from(answer.json["events"]?.array ?? []).map(\.clientMsgID) == ["m\(i)"])
                cursor = try #require(answer.json["cursor"]?.stringValue)
                // Between the answer and the re-poll: not online (a message now makes a push).
                #expect(eventually { server.continuations == 1 })
                #expect(server.engine.notifier.onlineUsers().isEmpty)
                phone.send("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: alice.token)
                #expect(eventually { server.parkedPolls == 1 })
                // The send's own reads aside (none on SQLite: its token is cached), the
                // answer and the re-poll read nothing.
                #expect(server.engine.readsStarted.count == reads, "pull \(i)")
                #expect(server.adopted == i)
                #expect(server.engine.notifier.onlineUsers().count == 1)
            }
            try bob.sendOK(room, "m4", "message 4")
            #expect(ReceivedMessage.from(try phone.readResponse().json["events"]?.array ?? []).map(\.clientMsgID) == ["m4"])
        }
    }

    /// A message sent between the answer and the re-poll: the re-poll reads and gets it.
    /// (A lifetime of a minute: the entry must go because of the news, not its age.)
    @Test func newsBetweenTheAnswerAndTheRePollMakesItRead() throws {
        try TestServer.with(configure: { $0.api.pullContinuationLifetime = .seconds(60) }) { server in
            let (alice, bob, room, phone, _, cursor) = try AnsweredPull.make(on: server)
            try bob.sendOK(room, "m2", "sent while alice's phone was not waiting")
            #expect(eventually { server.continuations == 0 })
            let answer = try phone.request("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: alice.token)
            #expect(ReceivedMessage.from(answer.json["events"]?.array ?? []).map(\.clientMsgID) == ["m2"])
            #expect(server.adopted == 0)
        }
    }

    /// Revoked between the answer and the re-poll: 401, not a parked pull.
    @Test func aRevokedDeviceDoesNotParkOnItsContinuation() throws {
        try TestServer.with { server in
            let (alice, _, _, phone, _, cursor) = try AnsweredPull.make(on: server)
            #expect(try server.admin.delete("/v1/admin/devices/\(alice.id)", token: TestServer.adminToken).status == 204)
            let answer = try phone.request("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: alice.token)
            #expect(answer.status == 401)
            #expect(server.adopted == 0)
        }
    }

    /// With no room left in the table, an answered pull's subscription ends (none is left
    /// behind) and the re-poll reads; the next message reaches it all the same.
    @Test func overCapacityTheRePollReads() throws {
        // (A lifetime of a minute: the subscription must end for want of room, not its age.)
        try TestServer.with(configure: { $0.api.pullContinuationCapacity = 0; $0.api.pullContinuationLifetime = .seconds(60) }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let phone = try server.connect(timeout: 15)
            phone.send("GET", "/v1/sync?cursor=\(try alice.conversationsCursor())&timeout=10", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            try bob.sendOK(room, "m1", "one")
            let answer = try phone.readResponse()
            #expect(ReceivedMessage.from(answer.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1"])
            #expect(eventually { server.engine.notifier.subscriberCount == 0 })
            #expect(server.continuations == 0)
            let reads = server.engine.readsStarted.count
            phone.send("GET", "/v1/sync?cursor=\(try #require(answer.json["cursor"]?.stringValue))&timeout=10", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            #expect(server.engine.readsStarted.count > reads)
            #expect(server.adopted == 0)
            try bob.sendOK(room, "m2", "two")
            #expect(ReceivedMessage.from(try phone.readResponse().json["events"]?.array ?? []).map(\.clientMsgID) == ["m2"])
        }
    }

    /// A token the node no longer has resolved (its cache emptied, as after news that may
    /// have been missed) makes the re-poll read: the continuation is trusted only for a
    /// principal from the cache.
    @Test func aTokenNotInTheCacheMakesTheRePollRead() throws {
        try TestServer.with(configure: { $0.api.pullContinuationLifetime = .seconds(60) }) { server in
            let (alice, bob, room, phone, _, cursor) = try AnsweredPull.make(on: server)
            server.engine.principals.clear()
            let reads = server.engine.readsStarted.count
            phone.send("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            #expect(server.engine.readsStarted.count > reads)
            #expect(server.adopted == 0)
            try bob.sendOK(room, "m2", "two")
            #expect(ReceivedMessage.from(try phone.readResponse().json["events"]?.array ?? []).map(\.clientMsgID) == ["m2"])
        }
    }

    /// Another cursor than the one the answer gave (here: the one before it) is not the
    /// continuation's: it reads, and gets what is after it.
    @Test func onlyTheCursorTheAnswerGaveParksOnIt() throws {
        try TestServer.with { server in
            let (alice, _, _, phone, before, _) = try AnsweredPull.make(on: server)
            let again = try phone.request("GET", "/v1/sync?cursor=\(before)&timeout=10", token: alice.token)
            #expect(ReceivedMessage.from(again.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1"])
            #expect(server.adopted == 0)
        }
    }
}

/// Alice's phone parked a pull from her first screen's cursor (`before`) on one
/// keep-alive connection; Bob's message "m1" answered it with `cursor`, and the node now
/// keeps that pull's continuation.
enum AnsweredPull {
    static func make(on server: TestServer) throws
        -> (alice: TestDevice, bob: TestDevice, room: Int64, phone: HTTPTestClient, before: String, cursor: String) {
        let alice = try server.createUser("alice", device: "phone")
        let bob = try server.createUser("bob", device: "phone")
        let room = try bob.directRoom(with: "alice")
        let before = try alice.conversationsCursor()
        let phone = try server.connect(timeout: 15)
        phone.send("GET", "/v1/sync?cursor=\(before)&timeout=10", token: alice.token)
        #expect(eventually { server.parkedPolls == 1 })
        try bob.sendOK(room, "m1", "one")
        let answer = try phone.readResponse()
        #expect(ReceivedMessage.from(answer.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1"])
        #expect(eventually { server.continuations == 1 })
        return (alice, bob, room, phone, before, try #require(answer.json["cursor"]?.stringValue))
    }
}

extension TestServer {
    /// Pull continuations kept, and re-polls that parked on one, over every loop.
    var continuations: Int { onLoops { $0.count } }
    var adopted: Int { server.api.adoptedContinuations.count }

    private func onLoops(_ figure: @escaping @Sendable (PullContinuations) -> Int) -> Int {
        let total = Locked(0)
        let done = DispatchSemaphore(value: 0)
        let tables = server.api.perLoop.withLock { $0 }.map(\.continuations)
        for t in tables {
            t.loop.execute {
                total.withLock { $0 += figure(t) }
                done.signal()
            }
        }
        for _ in tables { done.wait() }
        return total.value
    }
}

/// The pull that follows a socket's `mail` is answered from what the socket knew
/// (`PullOffers`) when it starts from the head the socket announced before one message:
/// no read, the page a read gives. Other news, or another cursor, and it reads.
@Suite(.timeLimit(.minutes(3)))
struct PullOfferTests {
    @Test func thePullAfterMailIsAnsweredWithoutARead() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: alice.token)
            var cursor = ready
            var events: [JSONValue] = []
            for i in 1...3 {
                let reads = server.engine.readsStarted.count
                try bob.sendOK(room, "m\(i)", "message \(i)")
                let mail = try ws.readNotification()
                #expect(mail.type == "mail")
                let page = try alice.get("/v1/sync?cursor=\(cursor)&timeout=0")
                #expect(server.engine.readsStarted.count == reads, "pull \(i)")
                #expect(server.server.api.offers.answered.count == i)
                #expect(ReceivedMessage.from(page.json["events"]?.array ?? []).map(\.clientMsgID) == ["m\(i)"])
                #expect(page.json["cursor"]?.stringValue == mail.cursor)
                #expect(page.json["has_more"]?.boolValue == false)
                events += page.json["events"]?.array ?? []
                cursor = try #require(page.json["cursor"]?.stringValue)
            }
            // What a read from the start gives (no offer is for that cursor): the same
            // events, to the same cursor.
            let reads = server.engine.readsStarted.count
            let read = try alice.pullAll(from: ready)
            #expect(server.engine.readsStarted.count > reads)
            #expect(read.events == events)
            #expect(read.cursor == cursor)
        }
    }

    /// A `member` event (added to a group) is news only a read can tell: the socket
    /// withdraws its offer, and the pull reads and gets it with the message before it.
    @Test func otherNewsWithdrawsTheOffer() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: alice.token)
            try bob.sendOK(room, "m1", "one")
            _ = try ws.readNotification()
            #expect(eventually { server.server.api.offers.count == 1 })
            let group = try bob.createGroup("later", members: ["alice"])
            #expect(eventually { server.server.api.offers.count == 0 })
            let page = try alice.get("/v1/sync?cursor=\(ready)&timeout=0")
            let events = page.json["events"]?.array ?? []
            #expect(events.map { $0["type"]?.stringValue } == ["message", "member"])
            #expect(events.last?["room_id"]?.int64Value == group)
            #expect(server.server.api.offers.answered.count == 0)
        }
    }

    /// An offer lives a moment: the socket withdraws it, and a later pull from its cursor
    /// reads (the message may have been recalled or pruned since).
    @Test func anOfferGoesAfterItsLifetime() throws {
        try TestServer.with(configure: { $0.api.pullContinuationLifetime = .milliseconds(200) }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: alice.token)
            #expect(try alice.get("/v1/sync?cursor=\(ready)&timeout=0").status == 200)   // the token is known
            try bob.sendOK(room, "m1", "one")
            _ = try ws.readNotification()
            #expect(eventually { server.server.api.offers.count == 1 })
            #expect(eventually { server.server.api.offers.count == 0 })
            let reads = server.engine.readsStarted.count
            let page = try alice.get("/v1/sync?cursor=\(ready)&timeout=0")
            #expect(server.engine.readsStarted.count > reads)
            #expect(ReceivedMessage.from(page.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1"])
            #expect(server.server.api.offers.answered.count == 0)
        }
    }

    /// Revoked after the mail: the pull is 401, never the offered page.
    @Test func aRevokedDeviceIsNotAnsweredFromAnOffer() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: laptop.token)
            #expect(try alice.get("/v1/sync?cursor=\(ready)&timeout=0").status == 200)   // the phone's token is known
            try bob.sendOK(room, "m1", "one")
            _ = try ws.readNotification()
            #expect(eventually { server.server.api.offers.count == 1 })
            #expect(try server.admin.delete("/v1/admin/devices/\(alice.id)", token: TestServer.adminToken).status == 204)
            #expect(try alice.get("/v1/sync?cursor=\(ready)&timeout=0").status == 401)
            #expect(server.server.api.offers.answered.count == 0)
        }
    }
}

/// On a store shared by several nodes, a hot room's message answers the pulls it woke
/// after one read for all of them (still members, nothing new in their inboxes:
/// `HotWakeChecks`), not a query each; a member removed before the message reads, and
/// gets the removal, never the message.
@Suite(.enabled(if: TestPostgres.serverURL != nil,
                "no PostgreSQL: set PIGEONHOLE_TEST_DATABASE_URL to a server's URL (.ci/run starts one)"),
       .timeLimit(.minutes(3)))
struct HotWakeCheckTests {
    @Test func aHotRoomsMessageAnswersItsWokenPullsAfterOneRead() throws {
        // One loop: every woken pull is on it, so "one read" is exact.
        try TestCluster.with(nodes: 1, configure: { $0.api.engine.hotThreshold = 3; $0.http.threads = 1 }) { cluster in
            let node = cluster.nodes[0]
            let owner = try node.createUser("owner", device: "phone")
            let names = ["m1", "m2", "m3", "m4"]
            var members: [TestDevice] = []
            for n in names { members.append(try node.createUser(n, device: "phone")) }
            let room = try owner.createGroup("hot", members: names)
            try owner.sendOK(room, "h0", "first")
            var heads: [String] = []
            for m in members { heads.append(try m.pullAll(from: try m.conversationsCursor()).cursor) }

            // m4 leaves the room before the message: its inbox moved (the leave), so
            // its pull must read and get the leave, not the message.
            let pulls = try zip(members, heads).map { try ParkedPull($0, on: node, cursor: $1) }
            #expect(eventually { node.parkedPolls == members.count })
            #expect(try members[3].delete("/v1/rooms/\(room)/members/m4").status == 204)
            let left = try #require(pulls[3].wait(5))
            #expect((left.json["events"]?.array ?? []).map { $0["type"]?.stringValue } == ["member"])

            let queries = node.server.api.pulls.reads.count
            let checks = node.server.api.hotWakeReads.count
            try owner.sendOK(room, "h1", "to the three still here")
            for (i, pull) in pulls.prefix(3).enumerated() {
                let answer = try #require(pull.wait(5))
                #expect(ReceivedMessage.from(answer.json["events"]?.array ?? []).map(\.clientMsgID) == ["h1"], "member \(i)")
                // The page a read from the same cursor gives.
                let read = try members[i].pull(heads[i])
                #expect(answer.json["events"] == read.json["events"])
                #expect(answer.json["cursor"] == read.json["cursor"])
            }
            #expect(node.server.api.pulls.reads.count == queries, "a woken pull queried")
            #expect(node.server.api.hotWakeReads.count - checks == 1)
        }
    }
}
