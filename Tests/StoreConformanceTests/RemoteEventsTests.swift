import Dispatch
@testable import SyncEngine
import Testing

/// What a node reads for another node's news before it publishes it (`RemoteEvents`):
/// for each position the news names, the message there, exactly as a pull from one row
/// before would show it, or nothing where a pull would show something else or something
/// that depends on the reader. On PostgreSQL in a fixed number of statements.
@Suite(.timeLimit(.minutes(2)))
struct RemoteEventsTests {
    @Test(arguments: allStoreFactories)
    func theMessagesAtTheNewsPositionsAsAPullShowsThem(_ factory: any StoreFactory) throws {
        var config = EngineConfiguration()
        config.hotThreshold = 4
        try Harness.alone(factory, config: config) { h, counter in
            let alice = try h.user("alice"), bob = try h.user("bob"), carol = try h.user("carol"), dave = try h.user("dave")
            let dm = try h.direct(alice, bob)
            let hot = try h.group(alice, "hot", [bob, carol, dave])
            #expect(try h.read { try $0.store.room(hot)?.hot } == true)
            func head(_ u: TestUser) throws -> Int64 { try #require(try h.read { try $0.store.inboxHead(user: u.id) }) }
            /// The one event a pull of `user` from just before `seq` shows.
            func pulled(_ u: TestUser, at seq: Int64) throws -> Event? {
                try h.read { try Stream.pull($0, user: u.id, after: Cursor(user: u.id, inboxSeq: seq - 1), limit: 1,
                                             perRoomLimit: nil) }.events.first
            }

            // A plain message: in bob's inbox and alice's (her own send).
            let plain = try h.send(alice, dm, "plain").get().message
            let bobPlain = try head(bob), alicePlain = try head(alice)
            // A message that has reactions (their `me` is the reader's), counted by the
            // reactions flush: left out.
            let reacted = try h.send(bob, dm, "reacted").get().message
            // (Alice's row of it, not the receipts row the send also wrote her.)
            let aliceReacted = try #require(try h.read { try $0.store.inboxKeys(user: alice.id, after: alicePlain, limit: 10) }
                .first { $0.kind == .message && $0.roomSeq == reacted.seq }?.seq)
            _ = try h.write { try MessageChanges.react($0, me: alice.principal, room: dm, seq: reacted.seq, key: "ok", add: true) }.get()
            #expect(try StoreConformanceTests().flush(h) == 1)
            // An edit: its row in carol's inbox is a change row (it depends on the reader's
            // join): left out.
            let small = try h.group(dave, "small", [carol])
            let edited = try h.send(dave, small, "to-edit").get().message
            _ = try h.write { try MessageChanges.edit($0, me: dave.principal, room: small, seq: edited.seq, body: "\"new\"",
                                                      maxBodyBytes: 1000) }.get()
            let carolChange = try head(carol)
            // A member event (dave's inbox: he was added to a group): left out.
            _ = try h.group(carol, "other", [dave])
            let daveMember = try head(dave)
            // A hot room's message, by its room seq.
            let hotMessage = try h.send(carol, hot, "hot").get().message

            let asked: [UserID: Int64] = [bob.id: bobPlain, alice.id: aliceReacted, carol.id: carolChange, dave.id: daveMember]
            let (events, statements) = try counted(counter) {
                try h.read { try RemoteEvents.events($0.store, users: asked, rooms: [hot: hotMessage.seq]) }
            }
            #expect(Set(events.inbox.keys) == [bob.id])
            #expect(events.inbox[bob.id]?.seq == bobPlain)
            #expect(events.inbox[bob.id]?.message == (try pulled(bob, at: bobPlain))?.message)
            #expect(events.inbox[bob.id]?.message.clientMsgID == plain.clientMsgID)
            let aliceEvent = try pulled(alice, at: aliceReacted)
            #expect(aliceEvent?.message?.reactions.isEmpty == false, "the reaction row was not reached: \(String(describing: aliceEvent))")
            #expect(try pulled(carol, at: carolChange)?.kind == .edit, "carol's row is not the change")
            #expect(try pulled(dave, at: daveMember)?.kind == .member, "dave's row is not the member event")
            #expect(Array(events.rooms.keys) == [hot])
            #expect(events.rooms[hot] == hotMessage)
            // BEGIN, the inbox rows, the messages, COMMIT.
            if let statements { #expect(statements == 4) }

            // A position past the head, or of alice's plain message: exactly that row.
            let more = try h.read { try RemoteEvents.events($0.store, users: [alice.id: alicePlain, bob.id: bobPlain + 100],
                                                            rooms: [hot: hotMessage.seq + 1]) }
            #expect(Set(more.inbox.keys) == [alice.id])
            #expect(more.inbox[alice.id]?.message.clientMsgID == plain.clientMsgID)
            #expect(more.rooms.isEmpty)
            #expect(try h.read { try RemoteEvents.events($0.store, users: [:], rooms: [:]) }.inbox.isEmpty)

            // A group's message, in three inboxes: each member gets it, at their own seq.
            let trio = try h.group(bob, "trio", [carol, dave])
            let group = try h.send(bob, trio, "to-all").get().message
            let members = [bob, carol, dave]
            let seqs = try members.map { u in
                try #require(try h.read { try $0.store.inboxKeys(user: u.id, after: 0, limit: 1000) }
                    .last { $0.kind == .message && $0.room == trio && $0.roomSeq == group.seq }?.seq)
            }
            let all = try h.read { try RemoteEvents.events($0.store, users: Dictionary(uniqueKeysWithValues: zip(members.map(\.id), seqs)),
                                                           rooms: [:]) }
            for (u, seq) in zip(members, seqs) {
                #expect(all.inbox[u.id]?.seq == seq)
                #expect(all.inbox[u.id]?.message == group)
            }
        }
    }
}
