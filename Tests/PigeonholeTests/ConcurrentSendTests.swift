import JSON
import SyncEngine
import Testing

/// 50 senders at once, each on its own keep-alive connection: every 201 is a durable
/// message (a new server on the same data dir finds each once), per-room seqs are
/// gapless, and the writer group-commits (far fewer transactions than messages).
@Suite(.timeLimit(.minutes(3)))
struct ConcurrentSendTests {
    static let senders = 50
    static let perSender = 20

    /// What a sender was acknowledged: client_msg_id -> (message id, seq).
    typealias Acks = [String: (id: Int64, seq: Int64)]

    @Test func fiftyConcurrentSendersAreDurableGaplessAndGroupCommitted() throws {
        let total = Self.senders * Self.perSender
        try TemporaryDirectory.with { dir in
            var room: Int64 = 0
            var acks: Acks = [:]
            var tokens: [String] = []
            try TestServer.with(directory: dir, durability: .full) { server in
                var devices: [TestDevice] = []
                for i in 0..<Self.senders { devices.append(try server.createUser("user\(i)", device: "phone")) }
                tokens = devices.map(\.token)
                let senders = devices
                room = try devices[0].createGroup("everyone", members: (1..<Self.senders).map { "user\($0)" })
                let groupRoom = room

                let commitsBefore = server.writer.stats.transactionsCommitted
                let results = Locked<[(sender: Int, status: Int, clientMsgID: String, id: Int64?, seq: Int64?)]>([])
                onThreads(Self.senders) { i in
                    let device = senders[i]
                    for n in 0..<Self.perSender {
                        let id = "u\(i)-\(n)"
                        let r = try? device.send(groupRoom, id, "message \(n) from user\(i)")
                        results.withLock {
                            $0.append((i, r?.status ?? -1, id, r?.json["id"]?.int64Value, r?.json["seq"]?.int64Value))
                        }
                    }
                }
                let commits = server.writer.stats.transactionsCommitted - commitsBefore
                let all = results.value
                print("group commit: \(total) messages from \(Self.senders) concurrent senders in \(commits) transactions "
                      + "(max batch \(server.writer.stats.maxBatchSize), "
                      + "total transactions since start \(server.writer.stats.transactionsCommitted))")

                #expect(all.count == total)
                #expect(all.filter { $0.status != 201 }.isEmpty, "non-201 responses: \(all.filter { $0.status != 201 }.prefix(5))")
                // Gapless per room: the acknowledged seqs are exactly 1...total.
                #expect(all.compactMap(\.seq).sorted() == Array(1...Int64(total)))
                #expect(Set(all.compactMap(\.id)).count == total)
                #expect(commits < total)
                for r in all { if let id = r.id, let seq = r.seq { acks[r.clientMsgID] = (id, seq) } }
            }

            // A new server on the same data directory: every acknowledged message is there, once.
            try TestServer.with(directory: dir, durability: .full) { server in
                let device = try server.createDevice("user7", "tablet")
                #expect(try device.get("/v1/rooms/\(room)").json["last_seq"]?.int64Value == Int64(total))
                let history = try device.fullHistory(room, limit: 100).messages
                #expect(history.count == total)
                #expect(history.compactMap { $0["seq"]?.int64Value } == Array(1...Int64(total)))
                var found: Acks = [:]
                for m in history {
                    guard let cid = m["client_msg_id"]?.stringValue, let id = m["id"]?.int64Value,
                          let seq = m["seq"]?.int64Value else { continue }
                    #expect(found[cid] == nil, "\(cid) twice")
                    found[cid] = (id, seq)
                }
                #expect(found.count == acks.count)
                #expect(acks.allSatisfy { found[$0.key]?.id == $0.value.id && found[$0.key]?.seq == $0.value.seq })
                // And in the stream of a member, from its very start: each message once.
                let userID = try device.userID()
                let stream = try device.pullAll(from: Cursor(user: UserID(userID), inboxSeq: 0).encoded, limit: 1000)
                let streamed = ReceivedMessage.from(stream.events)
                #expect(streamed.map(\.seq) == Array(1...Int64(total)))
                #expect(Set(streamed.map(\.clientMsgID)) == Set(acks.keys))

                // Each sender's messages are in the order they sent them.
                for i in [0, 17, 49] {
                    let mine = history.filter { $0["sender"]?.stringValue == "user\(i)" }
                    #expect(mine.compactMap { $0["client_msg_id"]?.stringValue } == (0..<Self.perSender).map { "u\(i)-\($0)" })
                }
                // Tokens survive the restart, and so do read markers: sending moved user3's
                // to their last message, so exactly the messages after it are unread.
                let user3 = try server.connect().get("/v1/unread", token: tokens[3])
                #expect(user3.status == 200)
                let lastOwn = try #require(acks["u3-\(Self.perSender - 1)"]?.seq)
                #expect(user3.json["total"]?.int64Value == Int64(total) - lastOwn)
            }
        }
    }
}
