import Glibc
import Dispatch
import SQLiteStore
import Synchronization
import Testing

/// Group commit: batching, per-command isolation, the batch cap.
@Suite struct WriterBatchTests {
    @Test func groupCommitsConcurrentSubmitters() async throws {
        try await withTempDir { dir async throws in
            let writer = try makeWriter(dir)
            defer { writer.stop() }
            let submitters = 64, perSubmitter = 8
            let gate = Gate()
            gate.block(writer)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for s in 0..<submitters {
                    group.addTask {
                        for i in 0..<perSubmitter {
                            let key = "\(s)-\(i)"
                            let (id, echoed) = try await writer.perform { db in
                                try db.run("INSERT INTO t (v) VALUES (?1)", [.text(key)])
                                let id = db.lastInsertRowID
                                return (id, try db.queryOne("SELECT v FROM t WHERE id = ?1", [.integer(id)]) { $0.text(0) })
                            }
                            #expect(echoed == key)
                            #expect(id > 0)
                        }
                    }
                }
                // Every submitter's first command is queued behind the gate: one batch of 64.
                try await waitUntil { writer.queuedCount == submitters }
                gate.open()
                try await group.waitForAll()
            }
            let total = submitters * perSubmitter
            let stats = writer.stats
            #expect(stats.maxBatchSize >= submitters)
            // Deterministic thanks to the gated first batch of 64; later batches depend
            // on scheduling, so no tighter bound is asserted.
            #expect(stats.transactionsCommitted < total)
            #expect(stats.commandsCompleted == total + 1)
            #expect(stats.commandsFailed == 0)
            #expect(stats.batchSizeHistogram.reduce(0, +) == stats.transactionsCommitted)
            let rows = try await writer.perform { db in try count(db, "t") }
            #expect(rows == total)
        }
    }

    @Test func failingCommandIsIsolatedInItsBatch() async throws {
        try await withTempDir { dir async throws in
            let writer = try makeWriter(dir)
            defer { writer.stop() }
            _ = try await writer.perform { db in try db.run("INSERT INTO t (v) VALUES ('taken')") }
            let gate = Gate()
            gate.block(writer)
            let committedBefore = writer.stats.transactionsCommitted
            let results = Mutex<[String: Result<Int64, any Error>]>([:])
            let done = DispatchGroup()
            func insert(_ tag: String, _ values: [String]) {
                done.enter()
                writer.submit({ db in
                    for v in values { try db.run("INSERT INTO t (v) VALUES (?1)", [.text(v)]) }
                    return db.lastInsertRowID
                }, completion: { result in
                    results.withLock { $0[tag] = result }
                    done.leave()
                })
            }
            insert("a", ["a"])
            insert("b", ["b-partial", "taken"])  // second insert violates UNIQUE
            insert("c", ["c"])
            gate.open()
            done.wait()
            // Gate's batch + one batch for a, b, c.
            #expect(writer.stats.transactionsCommitted == committedBefore + 2)
            let r = results.withLock { $0 }
            #expect((try? r["a"]?.get()) != nil)
            #expect((try? r["c"]?.get()) != nil)
            guard case .failure(let error)? = r["b"] else {
                Issue.record("failing command reported success")
                return
            }
            #expect((error as? SQLiteError)?.isConstraintUnique == true)
            // b's first insert was undone with it; a's and c's were not.
            let values = try await writer.perform { db in try db.queryAll("SELECT v FROM t ORDER BY id") { $0.text(0) } }
            #expect(values == ["taken", "a", "c"])
            // b failed after writing: the batch was replayed with a savepoint per command.
            #expect(writer.stats.transactionsReplayed == 1)
        }
    }

    @Test func commandFailingBeforeWritingNeedsNoReplay() async throws {
        try await withTempDir { dir async throws in
            let writer = try makeWriter(dir)
            defer { writer.stop() }
            let gate = Gate()
            gate.block(writer)
            let done = DispatchGroup()
            let results = Mutex<[Int: Bool]>([:])
            struct Refused: Error {}
            for i in 0..<3 {
                done.enter()
                writer.submit({ db in
                    if i == 1 { throw Refused() }   // validation error: nothing written
                    return try db.run("INSERT INTO t (v) VALUES (?1)", [.init(i)])
                }, completion: { result in
                    results.withLock { $0[i] = (try? result.get()) != nil }
                    done.leave()
                })
            }
            gate.open()
            done.wait()
            #expect(results.withLock { $0 } == [0: true, 1: false, 2: true])
            #expect(writer.stats.transactionsReplayed == 0)
            #expect(try await writer.perform { db in try count(db, "t") } == 2)
        }
    }

    @Test func walIsCheckpointedInTheBackground() async throws {
        try await withTempDir { dir async throws in
            let writer = try Writer(path: dir + "/w.sqlite", options: .init(backgroundCheckpointPages: 16)) { db in
                try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            }
            defer { writer.stop() }
            func fileSize(_ path: String) -> Int {
                var st = stat()
                return stat(path, &st) == 0 ? Int(st.st_size) : 0
            }
            let before = fileSize(dir + "/w.sqlite")
            for _ in 0..<8 {
                _ = try await writer.perform { db in
                    for _ in 0..<8 { try db.run("INSERT INTO t (v) VALUES (?1)", [.blob([UInt8](repeating: 7, count: 4000))]) }
                }
            }
            // No explicit checkpoint and the writer's own is off: the pages reach the
            // database file only through the checkpointer thread. Not necessarily all of
            // them: after a complete checkpoint the WAL restarts, and the last commits
            // may stay below the threshold. More than half of the rows is proof enough.
            try await waitUntil { fileSize(dir + "/w.sqlite") > before + 32 * 4000 }
            #expect(try await writer.perform { db in try count(db, "t") } == 64)
        }
    }

    @Test func batchesRespectTheCap() throws {
        try withTempDir { dir throws in
            let writer = try makeWriter(dir, maxBatchSize: 4)
            defer { writer.stop() }
            let gate = Gate()
            gate.block(writer)
            let done = DispatchGroup()
            for i in 0..<10 {
                done.enter()
                writer.submit({ db in try db.run("INSERT INTO t (v) VALUES (?1)", [.init(i)]) },
                              completion: { _ in done.leave() })
            }
            gate.open()
            done.wait()
            #expect(writer.stats.maxBatchSize == 4)
            #expect(writer.stats.transactionsCommitted == 4)  // gate, 4, 4, 2
            #expect(writer.stats.lastBatchSize == 2)
        }
    }
}
