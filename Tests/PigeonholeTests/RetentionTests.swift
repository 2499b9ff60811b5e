import SQLiteStore
import Foundation
import JSON
import SyncEngine
import Testing

/// Retention: old inbox rows and messages are pruned in small batches; a device whose
/// cursor fell behind the retained window gets 410 cursor_expired whose body already
/// carries the first screen; unread counters stay right.
@Suite(.timeLimit(.minutes(3)))
struct RetentionTests {
    /// Runs retention rounds until nothing old remains.
    static func prune(_ server: TestServer) {
        let done = DispatchSemaphore(value: 0)
        server.engine.pruneRound { done.signal() }
        done.wait()
    }

    static func count(_ server: TestServer, _ sql: String) throws -> Int {
        let db = try Database(path: server.databasePath, mode: .readOnly)
        defer { db.close() }
        return try db.queryOne(sql) { $0.int(0) } ?? -1
    }

    @Test func anExpiredCursorGets410WithTheFirstScreen() throws {
        let time = FakeClocks()
        try TestServer.with(configure: { $0.api.engine.offlineRetentionMillis = 300; $0.api.clocks = time.clocks }) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let start = try #require(bob.get("/v1/conversations").json["cursor"]?.stringValue)
            #expect(try bob.post("/v1/sync/ack", ["cursor": .string(start)]).status == 204)
            for i in 1...5 { try alice.sendOK(room, "old\(i)", "old \(i)") }
            time.advance(milliseconds: 400)
            for i in 1...3 { try alice.sendOK(room, "new\(i)", "new \(i)") }
            let before = try Self.count(server, "SELECT count(*) FROM inbox")
            Self.prune(server)
            #expect(try Self.count(server, "SELECT count(*) FROM inbox") < before)
            #expect(try Self.count(server, "SELECT count(*) FROM inbox WHERE kind = 'message'") == 6)   // 3 new x 2 members

            // The stale cursor: 410 with the first screen and a fresh cursor, one round trip.
            let r = try bob.get("/v1/sync?cursor=\(start)&timeout=0")
            #expect(r.status == 410)
            #expect(r.json["error"]?["code"]?.stringValue == "cursor_expired")
            let screen = try #require(r.json["first_screen"])
            let conv = try #require(screen["conversations"]?.arrayValue?.first)
            #expect(conv["unread"]?.intValue == 8)   // unread counts survive pruning
            #expect(conv["preview"]?.arrayValue?.last?["client_msg_id"]?.stringValue == "new3")
            let fresh = try #require(screen["cursor"]?.stringValue)
            let resumed = try bob.get("/v1/sync?cursor=\(fresh)&timeout=0")
            #expect(resumed.status == 200)
            #expect(resumed.json["events"]?.arrayValue?.isEmpty == true)
            // A cursor within the retained window still works and sees only what is kept.
            let ok = try bob.get("/v1/conversations")
            #expect(ok.json["conversations"]?.arrayValue?.first?["unread"]?.intValue == 8)
            // Pulling without a cursor from an acked position that expired: also 410, with
            // the first screen; once the fresh cursor is acked, the same pull works.
            let noCursor = try bob.get("/v1/sync?timeout=0")
            #expect(noCursor.status == 410)
            #expect(noCursor.json["first_screen"]?["cursor"]?.stringValue == fresh)
            #expect(try bob.post("/v1/sync/ack", ["cursor": .string(fresh)]).status == 204)
            #expect(try bob.get("/v1/sync?timeout=0").status == 200)
        }
    }

    @Test func historyRetentionPrunesMessagesAndExpiresHotCursors() throws {
        let time = FakeClocks()
        try TestServer.with(configure: {
            $0.api.clocks = time.clocks
            $0.api.engine.historyRetentionMillis = 300
            $0.api.engine.offlineRetentionMillis = 300
            $0.api.engine.hotThreshold = 3
        }) { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let carol = try server.createUser("carol", device: "phone")
            let room = try alice.createGroup("big", members: ["bob", "carol"])   // hot at 3 members
            let start = try #require(carol.get("/v1/conversations").json["cursor"]?.stringValue)
            for i in 1...4 { try alice.sendOK(room, "a\(i)", "old") }
            time.advance(milliseconds: 400)
            for i in 1...2 { try alice.sendOK(room, "b\(i)", "new") }
            Self.prune(server)
            #expect(try Self.count(server, "SELECT count(*) FROM messages") == 2)
            let history = try carol.get("/v1/rooms/\(room)/messages?limit=100")
            #expect(history.json["messages"]?.arrayValue?.map { $0["seq"]?.intValue ?? 0 } == [5, 6])
            #expect(history.json["next_before"] == nil)
            // The hot room position in `start` is below what is kept: expired.
            #expect(try carol.get("/v1/sync?cursor=\(start)&timeout=0").status == 410)
            let conv = try carol.get("/v1/conversations").json["conversations"]?.arrayValue?.first
            #expect(conv?["unread"]?.intValue == 6)
            #expect(conv?["last_seq"]?.intValue == 6)
        }
    }

    @Test func durationFlagsParse() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try CLITests.run(["serve", "--offline-retention", "7x", "--data-dir", dir]).status == 2)
        #expect(try CLITests.run(["serve", "--history-retention", "-1d", "--data-dir", dir]).status == 2)
    }
}
