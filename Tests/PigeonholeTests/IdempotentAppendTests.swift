import SQLiteBackend
import Dispatch
import JSON
import SQLiteStore
import SyncEngine
import Testing

/// The idempotency backstop of a send (issue 11): the unique (sender, client_msg_id)
/// in the store, not the domain's prior read, is what keeps a second message out. On a
/// backend with several writers a concurrent send with the same key passes the read and
/// reaches the insert; here that is played by calling the store's append directly.
@Suite(.timeLimit(.minutes(3)))
struct IdempotentAppendTests {
    @Test func anAppendWithATakenKeyReturnsTheOriginalAndTakesNoSeq() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.createGroup("pair", members: ["bob"])
            let first = try alice.send(room, "k1", "hello")
            #expect(first.status == 201)
            let firstID = try #require(first.json["id"]?.int64Value)

            let device = DeviceID(alice.id)
            let (outcome, lastSeqBefore, lastSeqAfter, count) = try StorageFaultTests.onWriter(server) { db in
                let store = SQLiteWriter(db)
                let user = try #require(try db.queryOne("SELECT id FROM users WHERE name = 'alice'", [], { UserID($0.int64(0)) }))
                let original = try #require(try store.message(sender: user, clientMsgID: "k1"))
                let target = try #require(try store.sendTarget(room: RoomID(room)))
                // The same key again, as a concurrent resend that did not see the original.
                let outcome = try store.appendMessage(to: target, sender: user, device: device, clientMsgID: "k1",
                                                      body: original.body, at: 1)
                let after = try #require(try store.sendTarget(room: RoomID(room)))
                let count = try db.queryOne("SELECT count(*) FROM messages WHERE client_msg_id = 'k1'", [], { $0.int(0) }) ?? -1
                return (outcome, target.lastSeq, after.lastSeq, count)
            }
            guard case .duplicate(let original) = outcome else {
                Issue.record("expected .duplicate, got \(outcome)")
                return
            }
            #expect(original.id.rawValue == firstID)
            #expect(original.seq == 1)
            #expect(lastSeqBefore == 1)
            #expect(lastSeqAfter == 1, "a duplicate takes no seq")
            #expect(count == 1)

            // The room's seqs stay gapless: the next send is 2.
            #expect(try alice.sendOK(room, "k2", "next") == 2)
        }
    }

    @Test func concurrentSendsWithOneKeyMakeOneMessage() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            var devices = [phone]
            for i in 1..<8 { devices.append(try server.createDevice("alice", "device\(i)")) }
            _ = try server.createUser("bob", device: "phone")
            let room = try phone.createGroup("pair", members: ["bob"])
            let senders = devices
            let results = Locked<[(status: Int, id: Int64?)]>([])
            onThreads(senders.count) { i in
                let r = try? senders[i].send(room, "same-key", "hello")
                results.withLock { $0.append((r?.status ?? -1, r?.json["id"]?.int64Value)) }
            }
            let all = results.value
            #expect(all.filter { $0.status == 201 }.count == 1)
            #expect(all.filter { $0.status == 200 }.count == senders.count - 1)
            #expect(Set(all.compactMap(\.id)).count == 1)
            let roomNow = try phone.get("/v1/rooms/\(room)")
            #expect(roomNow.json["last_seq"]?.int64Value == 1)
        }
    }
}
