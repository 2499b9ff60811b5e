import Foundation
import JSON
import Testing

/// `GET /v1/sync` with a timeout: a parked pull wakes on a send within milliseconds;
/// an idle one answers empty, with the same cursor, only after its full wait.
@Suite(.timeLimit(.minutes(3)))
struct LongPollTests {
    @Test func parkedPullWakesRightAfterASend() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let cursor = try alice.conversationsCursor()

            // A second connection for the parked request, with a receive timeout above
            // the poll's 10 s so only the server decides when it answers.
            let poller = try server.connect(timeout: 15)
            let answered = Locked<(HTTPTestResponse?, ContinuousClock.Instant?)>((nil, nil))
            let requested = ContinuousClock.now
            poller.send("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: alice.token)
            let done = DispatchSemaphore(value: 0)
            Thread {
                let r = try? poller.readResponse()
                let at = ContinuousClock.now
                answered.withLock { $0 = (r, at) }
                done.signal()
            }.start()
            // Act only once the pull is really parked (subscribed and past its first query).
            #expect(eventually { server.parkedPolls == 1 })

            let sendStarted = ContinuousClock.now
            let sent = try bob.send(room, "wake-1", "wake up")
            let acked = ContinuousClock.now
            #expect(sent.status == 201)
            #expect(done.wait(timeout: .now() + 5) == .success)

            let (response, at) = answered.value
            let r = try #require(response)
            let returnedAt = try #require(at)
            #expect(r.status == 200)
            let messages = ReceivedMessage.from(r.json["events"]?.array ?? [])
            #expect(messages.map(\.clientMsgID) == ["wake-1"])
            #expect(r.json["cursor"]?.stringValue != cursor)
            // The wake-up follows the same commit as the 201, so it lands within a few ms
            // of it. Observed on the 2-core dev box (debug build, durability normal): the
            // poll's answer arrived 1.5-2.6 ms after the send started, i.e. 0.3 ms before
            // to 1.2 ms after the sender read its 201.
            let afterAck = returnedAt - acked
            let afterSend = returnedAt - sendStarted
            print("long-poll wake: \(afterAck.milliseconds) ms after the send's 201, \(afterSend.milliseconds) ms after the send started, parked \((sendStarted - requested).milliseconds) ms")
            #expect(afterAck < .milliseconds(500))
            #expect(server.parkedPolls == 0)
        }
    }

    @Test func idlePullAnswersEmptyWithTheSameCursorAfterItsTimeout() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let cursor = try alice.conversationsCursor()
            let started = ContinuousClock.now
            let r = try alice.get("/v1/sync?cursor=\(cursor)&timeout=1")
            let waited = ContinuousClock.now - started
            #expect(r.status == 200)
            #expect(r.json["events"]?.array.isEmpty == true)
            #expect(r.json["cursor"]?.stringValue == cursor)
            #expect(r.json["has_more"]?.boolValue == false)
            // Never an immediate empty answer (clients would spin), nor much later.
            #expect(waited >= .milliseconds(900))
            #expect(waited < .seconds(3))

            // The same keep-alive connection serves the next request right away.
            #expect(try alice.get("/v1/me").status == 200)
        }
    }

    @Test func timeoutAboveTheMaximumIsClampedNotRejected() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let cursor = try alice.conversationsCursor()
            let poller = try server.connect(timeout: 10)
            poller.send("GET", "/v1/sync?cursor=\(cursor)&timeout=100000", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            try bob.sendOK(room, "m1", "hello")
            let r = try poller.readResponse()
            #expect(r.status == 200)
            #expect(ReceivedMessage.from(r.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1"])

            expectError(try alice.get("/v1/sync?cursor=\(cursor)&timeout=-1"), 400, "invalid_request")
            expectError(try alice.get("/v1/sync?cursor=\(cursor)&timeout=soon"), 400, "invalid_request")
        }
    }

    @Test func aSendToSomeoneElseDoesNotAnswerAParkedPull() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let bobCarol = try bob.directRoom(with: "carol")
            _ = carol
            let cursor = try alice.conversationsCursor()
            let started = ContinuousClock.now
            let poller = try server.connect(timeout: 5)
            poller.send("GET", "/v1/sync?cursor=\(cursor)&timeout=1", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            try bob.sendOK(bobCarol, "m1", "not for alice")
            let r = try poller.readResponse()
            #expect(ContinuousClock.now - started >= .milliseconds(900))
            #expect(r.json["events"]?.array.isEmpty == true)
            #expect(r.json["cursor"]?.stringValue == cursor)
        }
    }

    @Test func everyParkedDeviceOfTheUserWakes() throws {
        try TestServer.with(configure: { $0.api.pullContinuationLifetime = .milliseconds(200) }) { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let cursor = try phone.conversationsCursor()
            let pollers = try [phone, laptop].map { device in
                let c = try server.connect(timeout: 5)
                c.send("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: device.token)
                return c
            }
            #expect(eventually { server.parkedPolls == 2 })
            try bob.sendOK(room, "m1", "to both")
            for poller in pollers {
                let r = try poller.readResponse()
                #expect(r.status == 200)
                #expect(ReceivedMessage.from(r.json["events"]?.array ?? []).map(\.clientMsgID) == ["m1"])
            }
            // What stays is each answered pull's subscription, for its re-poll a moment
            // (`PullContinuations`), and then nothing.
            #expect(server.engine.notifier.subscriberCount == server.continuations)
            #expect(eventually { server.engine.notifier.subscriberCount == 0 })
        }
    }

    @Test func aClientThatGoesAwayWhileParkedLeavesNothingBehind() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let cursor = try alice.conversationsCursor()
            let poller = try server.connect()
            poller.send("GET", "/v1/sync?cursor=\(cursor)&timeout=30", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            #expect(server.engine.notifier.subscriberCount == 1)
            poller.close()
            #expect(eventually { server.parkedPolls == 0 && server.engine.notifier.subscriberCount == 0 })
        }
    }

    @Test func shutdownAnswersParkedPollsInsteadOfCuttingThem() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let cursor = try alice.conversationsCursor()
            let poller = try server.connect()
            poller.send("GET", "/v1/sync?cursor=\(cursor)&timeout=30", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            let started = ContinuousClock.now
            server.shutdown()
            #expect(ContinuousClock.now - started < .seconds(2))
            let r = try poller.readResponse()
            #expect(r.status == 200)
            #expect(r.json["events"]?.array.isEmpty == true)
            #expect(r.json["cursor"]?.stringValue == cursor)
        }
    }
}
