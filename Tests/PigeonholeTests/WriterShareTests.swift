import Dispatch
import PostgresBackend
import PostgresTestSupport
import SyncEngine
import Testing

/// `--db-writers` is the cluster's: the database's write concurrency, shared by the live
/// nodes (`PostgresSyncStore.shareWriters`). Past the database's cores more writers only
/// wait on each other's row locks with smaller batches, so two nodes of two writers each
/// sent less than one node alone.
@Suite(.enabled(if: TestPostgres.serverURL != nil,
                "no PostgreSQL: set PIGEONHOLE_TEST_DATABASE_URL to a server's URL (.ci/run starts one)"),
       .timeLimit(.minutes(2)))
struct WriterShareTests {
    @Test func twoLiveNodesShareTheWritersAndOneAloneTakesThemAll() throws {
        try TestCluster.with(nodes: 2, store: { $0.writers = 2 }) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            #expect(eventually(timeout: 5) { writersActive(a) == 1 && writersActive(b) == 1 },
                    "metrics: \(String(describing: writersActive(a))) and \(String(describing: writersActive(b)))")
            #expect(unitOfAnotherRoomRunsWhileTheFirstWriterIsHeld(a) == false)

            // Every node still takes writes.
            try a.createUser("ann")
            let ann = try a.createDevice("ann", "phone")
            let room = try ann.createGroup("share", members: [])
            #expect(try ann.sendOK(room, "a1", "from a") == 1)
            let annOnB = TestDevice(user: "ann", name: "phone", id: ann.id, token: ann.token, client: try b.connect())
            #expect(try annOnB.sendOK(room, "b1", "from b") == 2)

            // B leaves (its presence row goes with it): A alone runs both writers again.
            b.shutdown()
            #expect(eventually(timeout: 5) { writersActive(a) == 2 }, "metrics: \(String(describing: writersActive(a)))")
            #expect(unitOfAnotherRoomRunsWhileTheFirstWriterIsHeld(a) == true)
        }
    }

    /// `pigeonhole_writers_active` from the node's /metrics.
    private func writersActive(_ node: TestServer) -> Int? {
        guard let text = try? node.admin.get("/metrics", token: TestServer.adminToken).text else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("pigeonhole_writers_active ") {
            return Int(line.split(separator: " ")[1])
        }
        return nil
    }

    /// Holds the writer that room 0's units go to, and submits a unit of room 1: with two
    /// writers taking units it runs on the other one meanwhile (true); with one, only
    /// after the hold ends (false). Nil if the hold never began. The holding unit lets
    /// any rerun of itself through (a pipelined batch runs a unit up to its first
    /// statement, then again), and every wait here is bounded.
    private func unitOfAnotherRoomRunsWhileTheFirstWriterIsHeld(_ node: TestServer) -> Bool? {
        let store = node.engine.store as! PostgresSyncStore
        let held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let other = DispatchSemaphore(value: 0), released = DispatchSemaphore(value: 0)
        store.submit({ _ in
            held.signal()
            _ = release.wait(timeout: .now() + 10)
            release.signal()
        }, affinity: 0) { _ in released.signal() }
        guard held.wait(timeout: .now() + 10) == .success else {
            release.signal()
            return nil
        }
        store.submit({ _ in }, affinity: 1) { _ in other.signal() }
        let ranMeanwhile = other.wait(timeout: .now() + 1) == .success
        release.signal()
        _ = released.wait(timeout: .now() + 10)
        if !ranMeanwhile { _ = other.wait(timeout: .now() + 10) }
        return ranMeanwhile
    }
}
