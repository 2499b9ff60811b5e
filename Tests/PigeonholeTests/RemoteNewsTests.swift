import Dispatch
import PostgresTestSupport
import SQLiteBackend
@testable import SyncAPI
@testable import SyncEngine
import Testing

/// News from another node names positions only; the node that hears it reads the
/// messages there once (`RemoteEvents`) and wakes its pulls with them, so pulls parked at
/// the head answer without a read each, as they do for the node's own sends.
@Suite(.enabled(if: TestPostgres.serverURL != nil,
                "no PostgreSQL: set PIGEONHOLE_TEST_DATABASE_URL to a server's URL (.ci/run starts one)"),
       .timeLimit(.minutes(2)))
struct RemoteNewsTests {
    /// 20 pulls parked by one device at the head on node 1; a send on node 0 answers
    /// them all with the message, with no page read on node 1: the page and cursor a
    /// read from that cursor gives.
    @Test func pullsParkedAtTheHeadAnswerAnotherNodesSendWithoutAReadEach() throws {
        try TestCluster.with(nodes: 2, configure: { $0.api.waitsPerDevice = 0 }) { cluster in
            let (sender, receiver) = (cluster.nodes[0], cluster.nodes[1])
            // Everything but the send happens on node 1: no other node's news is on its
            // way to node 1 while its pulls park.
            let bob = try sender.createUser("bob", device: "phone")
            let alice = try receiver.createUser("alice", device: "phone")
            let room = try alice.directRoom(with: "bob")
            #expect(cluster.listening())
            let cursor = try alice.conversationsCursor()
            let count = 20
            let (pollers, answers, done) = try SharedPullTests.park(count, pulls: alice, from: cursor, on: receiver)
            #expect(eventually { receiver.parkedPolls == count })
            let reads = receiver.server.api.pulls.reads.count
            let enriched = receiver.engine.remoteEvents.enriched.count

            #expect(try bob.send(room, "remote-1", "across the cluster").status == 201)
            for _ in 0..<count { #expect(done.wait(timeout: .now() + 5) == .success) }
            let all = answers.value
            #expect(all.count == count)
            #expect(receiver.engine.remoteEvents.enriched.count == enriched + 1)
            #expect(receiver.server.api.pulls.reads.count == reads, "woken pulls read the database")
            #expect(receiver.server.api.pulls.answeredAtOnce.count == count)
            let metrics = try receiver.connect().get("/metrics", token: TestServer.adminToken).text
            #expect(MetricsTests.value(metrics, "pigeonhole_remote_news_read_total") == Double(enriched + 1))
            let read = try alice.get("/v1/sync?cursor=\(cursor)&timeout=0")
            #expect(read.status == 200)
            #expect(ReceivedMessage.from(read.json["events"]?.array ?? []).map(\.clientMsgID) == ["remote-1"])
            for r in all {
                #expect(r.status == 200)
                #expect(r.json["events"] == read.json["events"])
                #expect(r.json["cursor"] == read.json["cursor"])
            }
            withExtendedLifetime(pollers) {}
        }
    }

    /// A hot room's message sent on node 0 wakes its members' pulls parked on node 1
    /// with the message: one membership check for all of them (`HotWakeChecks`), no
    /// page read, and each gets the page a read gives.
    @Test func pullsParkedInAHotRoomAnswerAnotherNodesSendWithoutAPageRead() throws {
        try TestCluster.with(nodes: 2, configure: { $0.api.engine.hotThreshold = 3 }) { cluster in
            let (sender, receiver) = (cluster.nodes[0], cluster.nodes[1])
            let bob = try sender.createUser("bob", device: "phone")
            let members = try ["alice", "carol", "dave"].map { try receiver.createUser($0, device: "phone") }
            let room = try members[0].createGroup("hot", members: ["bob", "carol", "dave"])
            _ = try members[0].sendOK(room, "h1", "first")
            #expect(cluster.listening())
            let heads = try members.map { try $0.pullAll(from: try $0.conversationsCursor()).cursor }
            let pulls = try zip(members, heads).map { try ParkedPull($0, on: receiver, cursor: $1) }
            #expect(eventually { receiver.parkedPolls == members.count })
            let reads = receiver.server.api.pulls.reads.count
            let enriched = receiver.engine.remoteEvents.enriched.count

            _ = try bob.sendOK(room, "h2", "second")
            let answers = try pulls.map { try #require($0.wait(5)) }
            #expect(receiver.engine.remoteEvents.enriched.count == enriched + 1)
            #expect(receiver.server.api.pulls.reads.count == reads, "woken pulls read their pages")
            #expect(receiver.server.api.pulls.answeredAtOnce.count == members.count)
            for (i, answer) in answers.enumerated() {
                #expect(ReceivedMessage.from(answer.json["events"]?.array ?? []).map(\.clientMsgID) == ["h2"])
                let read = try members[i].pull(heads[i])
                #expect(answer.json["events"] == read.json["events"])
                #expect(answer.json["cursor"] == read.json["cursor"])
            }
        }
    }

    /// What a read would show differently to different readers is not carried: alice's
    /// and bob's pulls parked on node 1 after her message get the reactions event bob's
    /// reaction on node 0 made, each read for its reader (`me` true for bob only), once.
    @Test func aRemoteReactionsEventIsReadForEachReader() throws {
        try TestCluster.with(nodes: 2) { cluster in
            let (sender, receiver) = (cluster.nodes[0], cluster.nodes[1])
            let bob = try sender.createUser("bob", device: "phone")
            let bobLaptop = try receiver.createDevice("bob", "laptop")
            let alice = try receiver.createUser("alice", device: "phone")
            let room = try alice.directRoom(with: "bob")
            #expect(cluster.listening())
            let seq = try alice.sendOK(room, "m1", "react to me")
            let head = try alice.pullAll(from: try alice.conversationsCursor()).cursor
            let bobHead = try bobLaptop.pullAll(from: try bobLaptop.conversationsCursor()).cursor
            let pull = try ParkedPull(alice, on: receiver, cursor: head)
            let bobPull = try ParkedPull(bobLaptop, on: receiver, cursor: bobHead)
            #expect(eventually { receiver.parkedPolls == 2 })
            #expect(try MessageChangeTests.put(bob, "/v1/rooms/\(room)/messages/\(seq)/reactions/ok").status == 200)
            let flushed = DispatchSemaphore(value: 0)
            sender.engine.flushReactions { _ in flushed.signal() }
            flushed.wait()
            let answer = try #require(pull.wait(10))
            let events = answer.json["events"]?.array ?? []
            #expect(events.map { $0["type"]?.stringValue } == ["reactions"])
            #expect(events.first?["message"]?["reactions"] == .array([.object([("key", .string("ok")), ("count", .number("1")),
                                                                             ("me", .bool(false))])]))
            let next = try alice.pull(try #require(answer.json["cursor"]?.stringValue))
            #expect(next.json["events"]?.array.isEmpty == true)
            let bobAnswer = try #require(bobPull.wait(10))
            let bobEvents = bobAnswer.json["events"]?.array ?? []
            #expect(bobEvents.map { $0["type"]?.stringValue } == ["reactions"])
            #expect(bobEvents.first?["message"]?["reactions"] == .array([.object([("key", .string("ok")), ("count", .number("1")),
                                                                                 ("me", .bool(true))])]))
        }
    }
}

/// Another node's news comes merged (one notification per batch, and more merged on the
/// way): "alice's inbox is at N" may stand for a join at N-1 and a message at N. A socket
/// must not take the message for the only news then: it reads its head, and listens to
/// the hot room it joined. Played on one SQLite database with a second engine as "the
/// other node" (its writes publish nothing here) and its news handed to this node's
/// `RemoteEvents` as the listener would.
@Suite(.timeLimit(.minutes(3)))
struct RemoteNewsSocketTests {
    @Test func aSocketReadsItsHeadWhenMergedNewsSkipsAJoin() throws {
        try TestServer.with(configure: { $0.api.engine.hotThreshold = 3 }) { server in
            let aliceDevice = try server.createUser("alice", device: "phone")
            let bobDevice = try server.createUser("bob", device: "phone")
            try server.createUser("carol")
            let (ws, ready) = try WebSocketTestClient.openReady(server, token: aliceDevice.token)

            let otherStore = try SQLiteSyncStore(.init(path: server.databasePath))
            let other = SyncEngine(store: otherStore, config: server.engine.config)
            defer { otherStore.stop() }
            let reader = try otherStore.openReader()
            defer { reader.close() }
            func principal(_ token: String) throws -> Principal {
                try #require(try other.read(reader) { try Accounts.authenticate($0.store, token: token) })
            }
            let bob = try principal(bobDevice.token), alice = try principal(aliceDevice.token)
            func write<T: Sendable>(_ body: @escaping @Sendable (WriteContext) throws -> T) throws -> T {
                let result = Locked<Result<T, SyncError>?>(nil)
                let done = DispatchSemaphore(value: 0)
                other.write(body) { r in result.withLock { $0 = r }; done.signal() }
                done.wait()
                return try result.value!.get()
            }
            // On "the other node": alice joins a hot room (a member row), then gets a message.
            let hot = try write { try Rooms.createGroup($0, me: bob, name: "hot", memberNames: ["alice", "carol"]) }.id
            let dm = try write { try Rooms.direct($0, me: bob, otherName: "alice") }.0.id
            _ = try write { try Messages.send($0, me: bob, room: dm, clientMsgID: "d1", body: "\"hi\"", maxBodyBytes: 1000) }
            let head = try #require(try other.read(reader) { try $0.store.inboxHead(user: alice.user) })
            // Its news, merged: the message's seq only.
            server.engine.remoteEvents.receive(StoreNews(users: [alice.user: head]))
            #expect(try ws.readNotification().type == "mail")
            // A message in the hot room: the socket listens to it now.
            let sent = try write { try Messages.send($0, me: bob, room: hot, clientMsgID: "h1", body: "\"hot\"", maxBodyBytes: 1000) }
            server.engine.remoteEvents.receive(StoreNews(rooms: [hot: sent.message.seq]))
            let mail = try ws.readNotification()
            #expect(mail.type == "mail")
            // It announced the head: everything, the hot room's message included.
            let all = try aliceDevice.pullAll(from: ready)
            #expect(all.events.compactMap { $0["message"]?["client_msg_id"]?.stringValue } == ["d1", "h1"])
            #expect(mail.cursor == all.cursor)
        }
    }
}

/// Pages answered from news share one encoding of a message's event, per version: another
/// node's news reads a message as it is then, so the same message can come edited (or
/// recalled) in a later read, and must not be served as it was.
@Suite struct SharedEncodingTests {
    @Test func aMessagesEncodingIsSharedPerVersion() throws {
        try TestServer.with { server in
            let first = Message(id: MessageID(7), room: RoomID(1), seq: 3, sender: "bob", senderDevice: nil,
                                clientMsgID: "c7", body: "\"FIRST-TEXT\"", sentAt: 0)
            let edited = Message(id: MessageID(7), room: RoomID(1), seq: 3, sender: "bob", senderDevice: nil,
                                 clientMsgID: "c7", body: "\"EDITED-TEXT\"", sentAt: 0, editedAt: 5, editCount: 1, version: 1)
            let cursor = Cursor(user: UserID(1), inboxSeq: 4)
            func text(_ m: Message) -> String { String(decoding: server.server.api.pulls.page(m, cursor).body, as: UTF8.self) }
            #expect(text(first).contains("FIRST-TEXT"))
            let again = text(edited)
            #expect(again.contains("EDITED-TEXT"))
            #expect(!again.contains("FIRST-TEXT"))
        }
    }
}
