import Dispatch
import Glibc
import PostgresBackend
import PostgresTestSupport
import SyncEngine
import Testing

// The periodic receipts flush on PostgreSQL (migrations/postgres/0013): a room another
// writer holds (another node's batch) is passed over instead of waited for, so the
// flush does not hold up the sends queued on its writer; marks due for longer than four
// receipts windows are waited for, so a room that is never free still gets its receipts.

@Suite(.enabled(if: postgresConfigured, noPostgres), .timeLimit(.minutes(3)))
struct PostgresReceiptsFlushTests {
    /// Alice's two groups with Bob, each with a mark of Bob's reading pending (inside the
    /// window when made), and a session that holds the first room's row as another
    /// node's batch would.
    struct Setup {
        let node: PostgresRoundTripTests.Node
        let clock: FakeClock
        let alice: TestUser
        let held: RoomID
        let free: RoomID
        let holder: PGConnection

        init(lockTimeoutMillis: Int) throws {
            clock = FakeClock()
            node = try PostgresRoundTripTests.Node(clock: clock.function, lockTimeoutMillis: lockTimeoutMillis)
            let h = node.harness
            alice = try h.user("alice")
            let bob = try h.user("bob")
            held = try h.group(alice, "held", [bob])
            free = try h.group(alice, "free", [bob])
            for room in [held, free] {
                _ = try h.send(alice, room, "a\(room.rawValue)").get()
                _ = try h.send(bob, room, "b\(room.rawValue)").get()   // reads alice's: emitted at once
                _ = try h.send(alice, room, "c\(room.rawValue)").get()
                _ = try h.send(bob, room, "d\(room.rawValue)").get()   // inside the window: pending
            }
            holder = try PGConnection(url: node.database.url)
            try holder.execute("BEGIN")
            try holder.query("SELECT 1 FROM rooms WHERE id = $1 FOR NO KEY UPDATE", [.int(held.rawValue)])
        }

        func close() {
            holder.close()
            node.close()
        }

        /// Alice's receipts events per room.
        func receipts() throws -> [RoomID: Int] {
            let rows = try node.harness.read { try $0.store.inboxKeys(user: alice.id, after: 0, limit: 1000) }
            return rows.filter { $0.kind == .receipts }.reduce(into: [:]) { $0[$1.room!, default: 0] += 1 }
        }

        /// Starts a flush; its result (the marks still pending) arrives in the returned box.
        func startFlush() -> (DispatchSemaphore, Locked<Result<Int, SyncError>?>) {
            let done = DispatchSemaphore(value: 0)
            let result = Locked<Result<Int, SyncError>?>(nil)
            node.harness.engine.write({ try Receipts.flush($0) }) { r in
                result.withLock { $0 = r }
                done.signal()
            }
            return (done, result)
        }
    }

    @Test func aRoomAnotherWriterHoldsIsPassedOverAndFlushedNextTime() throws {
        // A long lock timeout: a flush that waited for the held room would still be waiting.
        let s = try Setup(lockTimeoutMillis: 30_000)
        defer { s.close() }
        #expect(try s.receipts() == [s.held: 1, s.free: 1])
        s.clock.advance(by: s.node.harness.engine.config.receiptsWindowMillis + 1)
        let (done, result) = s.startFlush()
        #expect(done.wait(timeout: .now() + 10) == .success, "the flush waited for the held room")
        #expect(try result.value?.get() == 1, "the held room's mark is still pending")
        #expect(try s.receipts() == [s.held: 1, s.free: 2])
        try s.holder.execute("ROLLBACK")
        let (again, second) = s.startFlush()
        #expect(again.wait(timeout: .now() + 10) == .success)
        #expect(try second.value?.get() == 0)
        #expect(try s.receipts() == [s.held: 2, s.free: 2])
    }

    @Test func marksDueForLongAreWaitedFor() throws {
        let s = try Setup(lockTimeoutMillis: 30_000)
        defer { s.close() }
        let window = s.node.harness.engine.config.receiptsWindowMillis
        s.clock.advance(by: 5 * window + 1)   // last emitted 5 windows ago: overdue
        let (done, result) = s.startFlush()
        // The writer waits for the held room's lock (seen by the server), and the flush
        // is not answered while it does.
        let waiting = try PGConnection(url: s.node.database.url)
        defer { waiting.close() }
        var waited = false
        for _ in 0..<500 where !waited {
            waited = try waiting.queryOne("""
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%ph_flush_receipts%'
                """) { $0.int(0) } == 1
            if !waited { usleep(10_000) }
        }
        #expect(waited, "the flush never waited for the held room")
        #expect(result.value == nil)
        try s.holder.execute("ROLLBACK")
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(try result.value?.get() == 0)
        #expect(try s.receipts() == [s.held: 2, s.free: 2])
    }
}
