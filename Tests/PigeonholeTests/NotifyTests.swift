import Foundation
import JSON
import SyncEngine
import Testing

/// `GET /v1/notify` end to end, against the real server: the "you have mail"
/// WebSocket wakes a device within milliseconds, coalesces bursts without ever
/// losing the last cursor, reaches every socket of a user and nobody else, keeps the
/// RFC 6455 duties (ping/pong, close, dead peers), refuses bad tokens and bad
/// handshakes before any upgrade, and never misses a commit that races the upgrade.
/// (Frame codec and transport-level WebSocket behaviour: HTTPServerTests.)
@Suite(.timeLimit(.minutes(3)))
struct NotifyTests {
    typealias Frame = WebSocketTestClient.Frame

    /// The inbox position of a cursor, for ordering checks only (clients never decode).
    static func position(_ cursor: String?) -> Int64? { cursor.flatMap(Cursor.decode)?.inboxSeq }

    // MARK: 1. wake-up latency, and the pull that follows

    @Test func mailArrivesWithinMillisecondsAndThePullFromThePreviousCursorReturnsTheMessage() throws {
        // No coalescing gap: every round is a fresh wake-up, however fast the rounds go.
        try TestServer.with(configure: { $0.api.notifyCoalesceInterval = .zero }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            var previous = try alice.conversationsCursor()
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: alice.token)
            // Nothing committed since the first screen: ready announces that very head.
            #expect(ready == previous)
            #expect(server.engine.notifier.subscriberCount == 1)

            var latencies: [Double] = []
            for round in 0..<5 {
                // A reader blocked in recv, so the frame's timestamp is its arrival.
                let got = Locked<Result<Frame, WebSocketTestClient.Failure>?>(nil)
                let reading = DispatchSemaphore(value: 0)
                let done = DispatchSemaphore(value: 0)
                Thread {
                    reading.signal()   // microseconds from recv; the send takes milliseconds
                    let r: Result<Frame, WebSocketTestClient.Failure>
                    do { r = .success(try ws.readNotification(timeout: 5)) } catch {
                        r = .failure(error as? WebSocketTestClient.Failure ?? .closed)
                    }
                    got.withLock { $0 = r }
                    done.signal()
                }.start()
                reading.wait()

                let sendStarted = ContinuousClock.now
                let sent = try bob.send(room, "wake-\(round)", "hello \(round)")
                let acked = ContinuousClock.now
                #expect(sent.status == 201)
                #expect(done.wait(timeout: .now() + 5) == .success)
                let mail = try #require(try got.value?.get())
                #expect(mail.type == "mail", "\(mail)")
                // The mail follows the same commit as the 201, so it may even arrive first.
                // Observed on the 2-core dev box (debug build, durability normal, 8 runs
                // x 5 rounds): mail 1.0-4.0 ms after the send started and -0.44..+4.0 ms
                // after bob read his 201, typically 0.1-0.3 ms *before* it (median -0.18 ms).
                let afterAck = (mail.receivedAt - acked).milliseconds
                latencies.append(afterAck)
                print("notify wake round \(round): \(afterAck) ms after the 201, \((mail.receivedAt - sendStarted).milliseconds) ms after the send started")
                #expect(mail.receivedAt - acked < .milliseconds(200))

                // On mail the device pulls from its previous cursor: exactly the new message,
                // and the pull ends at the mail's cursor.
                let pull = try alice.pull(previous)
                #expect(pull.status == 200)
                #expect(ReceivedMessage.from(pull.json["events"]?.array ?? []).map(\.clientMsgID) == ["wake-\(round)"])
                #expect(pull.json["cursor"]?.stringValue == mail.cursor)
                previous = try #require(mail.cursor)
            }
            print("notify wake after the 201 (ms): \(latencies.sorted())")
        }
    }

    // MARK: 2. coalescing

    @Test func aBurstOfHundredSendsCoalescesAndTheLastMailCarriesTheFinalCursor() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let start = try alice.conversationsCursor()
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: alice.token)
            #expect(ready == start)

            let frames = Locked<[Frame]>([])
            let burstDone = Locked(false)
            let readerDone = DispatchSemaphore(value: 0)
            Thread {
                // Reads until the socket stays quiet for 250 ms after the burst.
                while true {
                    do {
                        let f = try ws.readNotification(timeout: 0.25)
                        frames.withLock { $0.append(f) }
                    } catch WebSocketTestClient.Failure.timedOut {
                        if burstDone.value { break }
                    } catch {
                        break
                    }
                }
                readerDone.signal()
            }.start()

            let began = ContinuousClock.now
            for i in 0..<100 { try bob.sendOK(room, "burst-\(i)", "m\(i)") }
            let burst = ContinuousClock.now - began
            burstDone.withLock { $0 = true }
            #expect(readerDone.wait(timeout: .now() + 10) == .success)

            let all = try alice.pullAll(from: start)
            #expect(ReceivedMessage.from(all.events).count == 100)
            let mails = frames.value
            print("notify burst: 100 sends in \(burst.milliseconds) ms -> \(mails.count) mail frames")
            #expect(mails.allSatisfy { $0.type == "mail" }, "\(mails)")
            #expect(!mails.isEmpty && mails.count <= 50)
            // Never stale, never repeated: each mail is newer than the one before.
            let positions = mails.map { Self.position($0.cursor) ?? -1 }
            #expect(positions == positions.sorted() && Set(positions).count == positions.count, "\(positions)")
            // The coalescing gap (10 ms) holds over the burst: no more frames than the span
            // allows (the slack absorbs a frame delayed on its way to this reader).
            if let first = mails.first, let last = mails.last {
                let allowed = Int((last.receivedAt - first.receivedAt).milliseconds / 10) + 3
                #expect(mails.count <= allowed, "\(mails.count) mails over \((last.receivedAt - first.receivedAt).milliseconds) ms")
            }
            // And the last one carries the final cursor.
            #expect(mails.last?.cursor == all.cursor)
        }
    }

    // MARK: 3. fan-out

    @Test func everySocketOfTheUserIsNotifiedAndNobodyElse() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let aliceRoom = try bob.directRoom(with: "alice")
            let carolRoom = try bob.directRoom(with: "carol")
            let previous = try phone.conversationsCursor()
            let carolPrevious = try carol.conversationsCursor()

            let (phoneWS, r1) = try WebSocketTestClient.openReady(server, token: phone.token)
            let (tabWS, r2) = try WebSocketTestClient.openReady(server, token: phone.token, viaQuery: true)   // a second tab
            let (laptopWS, r3) = try WebSocketTestClient.openReady(server, token: laptop.token)
            let (carolWS, _) = try WebSocketTestClient.openReady(server, token: carol.token)
            #expect([r1, r2, r3] == [previous, previous, previous])
            #expect(server.engine.notifier.subscriberCount == 4)

            try bob.sendOK(aliceRoom, "to-alice", "hi alice")
            let pull = try phone.pull(previous)
            #expect(ReceivedMessage.from(pull.json["events"]?.array ?? []).map(\.clientMsgID) == ["to-alice"])
            let head = try #require(pull.json["cursor"]?.stringValue)
            for (name, ws) in [("phone", phoneWS), ("phone tab", tabWS), ("laptop", laptopWS)] {
                let f = try? ws.readNotification(timeout: 2)
                #expect(f?.type == "mail" && f?.cursor == head, "\(name): \(String(describing: f))")
            }
            // Carol is in no room of that message: well past the coalescing gap, still nothing.
            #expect(carolWS.staysSilent(for: 0.1), "carol was notified of alice's mail")

            // Carol's socket is alive (the silence above meant something), and her mail
            // reaches none of alice's sockets.
            try bob.sendOK(carolRoom, "to-carol", "hi carol")
            let carolMail = try? carolWS.readNotification(timeout: 2)
            #expect(carolMail?.type == "mail")
            let carolPull = try carol.pull(carolPrevious)
            #expect(ReceivedMessage.from(carolPull.json["events"]?.array ?? []).map(\.clientMsgID) == ["to-carol"])
            #expect(carolMail?.cursor == carolPull.json["cursor"]?.stringValue)
            for ws in [phoneWS, tabWS, laptopWS] { #expect(ws.staysSilent(for: 0.05), "alice was notified of carol's mail") }
        }
    }

    // MARK: 4. protocol duties

    @Test func clientPingIsAnsweredAndCloseIsEchoedThenTheSocketIsGone() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let (ws, _) = try WebSocketTestClient.openReady(server, token: alice.token)
            #expect(server.server.http.openUpgradedConnections == 1)

            ws.send(opcode: Frame.ping, Array("are-you-there".utf8))
            let pong = try ws.readFrame(timeout: 2)
            #expect(pong.opcode == Frame.pong && pong.text == "are-you-there", "\(pong)")

            ws.sendClose(1000)
            let echo = try ws.readFrame(timeout: 2)
            #expect(echo.opcode == Frame.close && echo.closeCode == 1000, "\(echo)")
            #expect(ws.isClosedByPeer())
            #expect(eventually { server.server.http.openUpgradedConnections == 0 && server.engine.notifier.subscriberCount == 0 })
        }
    }

    @Test func serverPingsAndDropsASilentPeerButKeepsOneThatAnswers() throws {
        let interval = Duration.milliseconds(100)
        try TestServer.with(configure: { $0.api.webSocketPingInterval = interval }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let opened = ContinuousClock.now
            let (silent, _) = try WebSocketTestClient.openReady(server, token: alice.token)
            let (alive, _) = try WebSocketTestClient.openReady(server, token: alice.token)

            // The live peer answers every ping (on its own thread) and records what it gets.
            let aliveFrames = Locked<[Frame]>([])
            let stop = Locked(false)
            let aliveDone = DispatchSemaphore(value: 0)
            Thread {
                while !stop.value {
                    guard let f = try? alive.readFrame(timeout: 0.05) else { continue }
                    if f.opcode == Frame.ping { alive.send(opcode: Frame.pong, f.payload) }
                    aliveFrames.withLock { $0.append(f) }
                }
                aliveDone.signal()
            }.start()

            // The silent peer gets a ping after one interval, then is dropped for never
            // answering (after about two).
            let ping = try silent.readFrame(timeout: 2)
            #expect(ping.opcode == Frame.ping, "\(ping)")
            #expect(silent.isClosedByPeer(timeout: 2), "a silent peer was kept")
            let droppedAfter = ContinuousClock.now - opened
            #expect(droppedAfter >= interval && droppedAfter < .seconds(2), "\(droppedAfter)")
            #expect(eventually { server.server.http.openUpgradedConnections == 1 && server.engine.notifier.subscriberCount == 1 })

            // The answering peer outlives several intervals (three pings answered) and still
            // gets mail.
            #expect(eventually { aliveFrames.value.filter { $0.opcode == Frame.ping }.count >= 3 })
            try bob.sendOK(room, "still-there", "ping me")
            #expect(eventually { aliveFrames.value.contains { $0.type == "mail" } })
            stop.withLock { $0 = true }
            #expect(aliveDone.wait(timeout: .now() + 2) == .success)
            let pings = aliveFrames.value.filter { $0.opcode == Frame.ping }.count
            #expect(pings >= 3, "pings seen by the live peer: \(pings)")
            #expect(server.server.http.openUpgradedConnections == 1)
        }
    }

    // MARK: 5. refusals before any upgrade

    @Test func badOrRevokedTokensAndBadHandshakesNeverUpgrade() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            // Both forms work for a good token (so the refusals below are about the token).
            _ = try WebSocketTestClient.openReady(server, token: phone.token)
            _ = try WebSocketTestClient.openReady(server, token: phone.token, viaQuery: true)
            #expect(eventually { server.server.http.openUpgradedConnections == 0 })   // both dropped above
            let phoneTicket = try WebSocketTestClient.ticket(port: server.port, token: phone.token)
            #expect(try server.admin.delete("/v1/admin/devices/\(phone.id)", token: TestServer.adminToken).status == 204)

            // A ticket of the laptop, used once already.
            let usedTicket = try WebSocketTestClient.ticket(port: server.port, token: laptop.token)
            _ = try WebSocketTestClient(port: server.port).requestUpgrade("/v1/notify?ticket=\(usedTicket)")
            let refusals: [(String, String, String?)] = [
                ("no token", "/v1/notify", nil),
                ("bogus header", "/v1/notify", "ph_not-a-real-token"),
                ("bogus ticket", "/v1/notify?ticket=pht_not-a-real-ticket", nil),
                ("empty ticket", "/v1/notify?ticket=", nil),
                ("a device token as a ticket", "/v1/notify?ticket=\(laptop.token)", nil),
                ("a ticket used once already", "/v1/notify?ticket=\(usedTicket)", nil),
                ("a ticket of a device revoked since", "/v1/notify?ticket=\(phoneTicket)", nil),
                ("revoked header", "/v1/notify", phone.token),
                ("truncated header", "/v1/notify", String(laptop.token.dropLast())),
            ]
            for (what, path, token) in refusals {
                let c = try WebSocketTestClient(port: server.port)
                let r = try c.requestUpgrade(path, token: token)
                #expect(r.status == 401, "\(what): \(r.status) \(r.text)")
                expectError(r, 401, "unauthorized")
                #expect(r.header("Content-Type")?.hasPrefix("application/json") == true, "\(what)")
                #expect(r.header("Sec-WebSocket-Accept") == nil && r.header("Upgrade") == nil, "\(what): \(r.headers)")
                #expect(c.staysSilent(for: 0.01), "\(what): bytes after the 401")
            }
            #expect(server.server.http.openUpgradedConnections == 0)
            #expect(server.engine.notifier.subscriberCount == 0)

            // A good token, but no upgrade: 426 naming the protocol.
            let c = try WebSocketTestClient(port: server.port)
            let plain = try c.requestUpgrade("/v1/notify", token: laptop.token, headers: [])
            expectError(plain, 426, "upgrade_required")
            #expect(plain.header("Upgrade")?.lowercased() == "websocket")
            // Another protocol version: 426 naming the one we speak.
            let v8 = try c.requestUpgrade("/v1/notify", token: laptop.token, headers: WebSocketTestClient.upgradeHeaders(version: "8"))
            expectError(v8, 426, "unsupported_websocket_version")
            #expect(v8.header("Sec-WebSocket-Version") == "13")
            #expect(v8.header("Sec-WebSocket-Accept") == nil)
            // A key that is not 16 bytes: 400.
            let badKey = try c.requestUpgrade("/v1/notify", token: laptop.token, headers: WebSocketTestClient.upgradeHeaders(key: "c2hvcnQ="))
            expectError(badKey, 400, "bad_handshake")
            #expect(server.server.http.openUpgradedConnections == 0)
            #expect(server.engine.notifier.subscriberCount == 0)

            // The same connection is still plain HTTP and upgrades once asked properly.
            let ok = try c.requestUpgrade("/v1/notify", token: laptop.token)
            #expect(ok.status == 101)
            #expect(try c.readNotification(timeout: 2).type == "ready")
        }
    }

    // MARK: 6. dead peers

    @Test func aVanishedPeerIsCleanedUp() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            let connectionsBefore = server.server.http.openConnections
            let (reset, _) = try WebSocketTestClient.openReady(server, token: alice.token)
            let (halfClosed, _) = try WebSocketTestClient.openReady(server, token: alice.token)
            #expect(server.server.http.openUpgradedConnections == 2)
            #expect(server.engine.notifier.subscriberCount == 2)

            reset.abort()               // RST: SO_LINGER 0, no close frame
            halfClosed.shutdownWrite()  // FIN, no close frame
            #expect(eventually { server.server.http.openUpgradedConnections == 0 }, "open sockets: \(server.server.http.openUpgradedConnections)")
            #expect(eventually { server.engine.notifier.subscriberCount == 0 }, "subscribers: \(server.engine.notifier.subscriberCount)")
            #expect(eventually { server.server.http.openConnections == connectionsBefore })
            #expect(halfClosed.isClosedByPeer())
            // A commit for the user finds nobody to wake and harms nothing.
            try bob.sendOK(room, "after", "anyone?")
            #expect(server.engine.notifier.subscriberCount == 0)
        }
    }

    // MARK: 7. commits racing the upgrade

    @Test func socketsOpenedDuringCommitsMissNothing() throws {
        // Many sockets of one device on purpose: past the default cap of waits per device.
        try TestServer.with(configure: { $0.api.waitsPerDevice = 0 }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            var start = try alice.conversationsCursor()
            // Only the last commit of a burst has no later one to carry its cursor along,
            // so each wave ends its burst in the middle of its upgrades; three waves give
            // that last commit three chances to land inside an upgrade.
            for wave in 0..<3 {
                start = try raceWave(wave, server: server, alice: alice, bob: bob, room: room, from: start)
            }
        }
    }

    /// 20 sockets open staggered over bob's commits (socket i once 3 + i sends are
    /// answered); bob sends without pause from before the first upgrade until half of
    /// them are open. Then, once quiet, every socket's last
    /// word (its last mail, or its ready if nothing came after) must be the final head,
    /// and its ready must be a cursor a pull can start from. Returns the head.
    private func raceWave(_ wave: Int, server: TestServer, alice: TestDevice, bob: TestDevice, room: Int64,
                          from start: String) throws -> String {
        let port = server.port
        let token = alice.token
        let socketCount = 20
        let opened = Locked(0)
        let sends = Locked(0)
        let sendFailure = Locked<String?>(nil)
        let senderStopped = Locked(false)
        let senderDone = DispatchSemaphore(value: 0)
        Thread {
            while opened.value < socketCount / 2 && sends.value < 2000 {
                do { try bob.sendOK(room, "race-\(wave)-\(sends.value)", "x") } catch {
                    sendFailure.withLock { $0 = "\(error)" }
                    break
                }
                sends.withLock { $0 += 1 }
            }
            senderStopped.withLock { $0 = true }
            senderDone.signal()
        }.start()
        #expect(eventually { sends.value >= 3 })

        let sockets = Locked<[Int: (WebSocketTestClient, String)]>([:])
        let openFailures = Locked<[String]>([])
        onThreads(socketCount) { i in
            defer { opened.withLock { $0 += 1 } }
            _ = eventually(timeout: 10) { sends.value >= 3 + i || senderStopped.value }
            do {
                let s = try WebSocketTestClient.openReady(port: port, token: token)
                sockets.withLock { $0[i] = s }
            } catch {
                openFailures.withLock { $0.append("socket \(i): \(error)") }
            }
        }
        #expect(senderDone.wait(timeout: .now() + 20) == .success)
        #expect(sendFailure.value == nil)
        #expect(openFailures.value.isEmpty, "\(openFailures.value)")

        let all = try alice.pullAll(from: start)
        #expect(ReceivedMessage.from(all.events).count == sends.value)
        let head = all.cursor
        let readies = sockets.value.values.map(\.1)
        print("notify race wave \(wave): \(sends.value) sends, \(Set(readies).count) distinct ready cursors over \(socketCount) sockets")

        for (i, entry) in sockets.value.sorted(by: { $0.key < $1.key }) {
            let (ws, ready) = entry
            // ready is never ahead of what a pull from it can reach ...
            let fromReady = try alice.pull(ready)
            #expect(fromReady.status == 200, "wave \(wave) socket \(i): pull from ready \(ready): \(fromReady.status) \(fromReady.text)")
            // ... and whatever committed after it shows up as mail, ending at the head.
            var seen: [Frame] = []
            let reached = ready == head || ws.readUntil(cursor: head, timeout: 2, seen: &seen)
            #expect(reached, "wave \(wave) socket \(i): ready \(ready), mails \(seen.map(\.description)), head \(head)")
            let positions = ([ready] + seen.compactMap(\.cursor)).map { Self.position($0) ?? -1 }
            #expect(positions == positions.sorted() && Set(positions).count == positions.count,
                    "wave \(wave) socket \(i): not strictly newer each time: \(positions)")
            #expect(seen.allSatisfy { $0.type == "mail" })
            // Quiet now: nothing further is owed, so nothing further is buffered.
            #expect(ws.staysSilent(for: 0.0))
        }
        return head
    }
}

extension NotifyTests {
    /// A read marker on one device tells the user's socket on another with a `mail`
    /// frame whose cursor is past the `read` row, and the socket reads nothing for it
    /// (the news carries the row, as a message's does); a pull from the previous cursor
    /// gets the `read` event.
    @Test func aReadMarkerMailsTheOtherDevicesSocketWithoutAHeadRead() throws {
        try TestServer.with(configure: { $0.api.notifyCoalesceInterval = .zero }) { server in
            let phone = try server.createUser("alice", device: "phone")
            let laptop = try server.createDevice("alice", "laptop")
            let bob = try server.createUser("bob", device: "phone")
            let room = try bob.directRoom(with: "alice")
            try bob.sendOK(room, "m1", "hello")
            try bob.sendOK(room, "m2", "again")
            // The phone's token read once, then cached (a write needs no read for it).
            #expect(try phone.post("/v1/rooms/\(room)/read", ["seq": 1]).status == 200)
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: laptop.token)
            let reads = server.engine.readsStarted.count
            #expect(try phone.post("/v1/rooms/\(room)/read", ["seq": 2]).status == 200)
            let mail = try ws.readNotification(timeout: 5)
            #expect(mail.type == "mail")
            #expect(NotifyTests.position(mail.cursor) == (NotifyTests.position(ready) ?? -1) + 1)
            #expect(server.engine.readsStarted.count == reads, "the socket read its head again")
            let events = try laptop.pull(ready).json["events"]?.array ?? []
            #expect(events.map { $0["type"]?.stringValue } == ["read"])
        }
    }

    /// No long-lived credential in a URL (issue 20, item 8): a browser opens its socket
    /// with a ticket that works once, for 30 seconds; `?access_token=` is refused.
    @Test func socketsOpenWithSingleUseTicketsNeverWithATokenInTheURL() throws {
        let time = FakeClocks()
        try TestServer.with(configure: { $0.api.clocks = time.clocks }) { server in
            let phone = try server.createUser("alice", device: "phone")
            let issued = try phone.post("/v1/notify/ticket", raw: "")
            #expect(issued.status == 201)
            let ticket = try #require(issued.json["ticket"]?.stringValue)
            #expect(ticket.hasPrefix("pht_") && !ticket.contains(phone.token))
            #expect(issued.json["expires_in_s"]?.int64Value == 30)
            expectError(try HTTPTestClient(port: server.port).request("POST", "/v1/notify/ticket"), 401, "unauthorized")

            // A refused handshake does not spend the ticket; the upgrade does, once.
            let plain = try WebSocketTestClient(port: server.port).requestUpgrade("/v1/notify?ticket=\(ticket)", headers: [])
            expectError(plain, 426, "upgrade_required")
            let ws = try WebSocketTestClient(port: server.port)
            #expect(try ws.requestUpgrade("/v1/notify?ticket=\(ticket)").status == 101)
            #expect(try ws.readFrame().type == "ready")
            expectError(try WebSocketTestClient(port: server.port).requestUpgrade("/v1/notify?ticket=\(ticket)"), 401, "unauthorized")

            // Thirty seconds later an unused ticket is dead.
            let late = try WebSocketTestClient.ticket(port: server.port, token: phone.token)
            time.advance(milliseconds: 30_001)
            expectError(try WebSocketTestClient(port: server.port).requestUpgrade("/v1/notify?ticket=\(late)"), 401, "unauthorized")

            // A ticket and a bearer token at once, right or wrong, is two credentials:
            // refused (RFC 6750 section 2: one method per request), and the ticket is not
            // spent by it.
            let both = try WebSocketTestClient.ticket(port: server.port, token: phone.token)
            for token in ["ph_wrong", phone.token] {
                let r = try WebSocketTestClient(port: server.port).requestUpgrade("/v1/notify?ticket=\(both)", token: token)
                expectError(r, 400, "invalid_request")
                #expect(r.text.contains("one credential"))
            }
            #expect(try WebSocketTestClient(port: server.port).requestUpgrade("/v1/notify?ticket=\(both)").status == 101)

            // The device token in the URL is refused outright, right or wrong.
            for query in ["access_token=\(phone.token)", "access_token=ph_wrong"] {
                let r = try WebSocketTestClient(port: server.port).requestUpgrade("/v1/notify?\(query)")
                expectError(r, 400, "invalid_request")
                #expect(r.text.contains("ticket"))
            }
        }
    }
}

