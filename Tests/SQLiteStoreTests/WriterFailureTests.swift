import SQLiteStore
import Testing

/// Failures of a batch's transaction itself: none of its commands may be reported
/// as done, and nothing of it may remain stored.
@Suite struct WriterFailureTests {
    @Test func commitFailureFailsTheWholeBatch() async throws {
        try await withTempDir { dir async throws in
            let writer = try Writer(path: dir + "/w.sqlite") { db in
                try db.execute("""
                    CREATE TABLE parent (id INTEGER PRIMARY KEY);
                    CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
                    """)
            }
            defer { writer.stop() }
            let gate = Gate()
            gate.block(writer)
            let good = Task { try await writer.perform { db in try db.run("INSERT INTO parent VALUES (1)") } }
            // Deferred foreign keys are checked at COMMIT only, so this command succeeds
            // in its savepoint and the batch's COMMIT fails.
            let orphan = Task {
                try await writer.perform { db in
                    try db.execute("PRAGMA defer_foreign_keys = ON")
                    return try db.run("INSERT INTO child VALUES (1, 99)")
                }
            }
            try await waitUntil { writer.queuedCount == 2 }
            gate.open()
            for result in [await good.result, await orphan.result] {
                guard case .failure(let error) = result else {
                    Issue.record("command succeeded although its batch did not commit")
                    continue
                }
                #expect((error as? SQLiteError)?.isConstraintForeignKey == true)
            }
            #expect(writer.stats.transactionsFailed == 1)
            let counts = try await writer.perform { db in [try count(db, "parent"), try count(db, "child")] }
            #expect(counts == [0, 0])
        }
    }

    @Test func diskFullLeavesNoPartialStateAndRecovers() async throws {
        try await withTempDir { dir async throws in
            let writer = try makeWriter(dir)
            defer { writer.stop() }
            _ = try await writer.perform { db in
                let pages = try db.queryOne("PRAGMA page_count") { $0.int(0) } ?? 0
                try db.run("PRAGMA max_page_count = \(pages)")
            }
            let big = String(repeating: "x", count: 200_000)
            let gate = Gate()
            gate.block(writer)
            let small = Task { try await writer.perform { db in try db.run("INSERT INTO t (v) VALUES ('small')") } }
            let large = Task { try await writer.perform { db in try db.run("INSERT INTO t (v) VALUES (?1)", [.text(big)]) } }
            let after = Task { try await writer.perform { db in try db.run("INSERT INTO t (v) VALUES ('after')") } }
            try await waitUntil { writer.queuedCount == 3 }
            gate.open()
            let smallResult = await small.result
            let largeResult = await large.result
            // Whatever SQLite undid, a command after the failure still gets its chance.
            await #expect(throws: Never.self) { try await after.value }
            guard case .failure(let error) = largeResult else {
                Issue.record("insert beyond max_page_count succeeded")
                return
            }
            #expect((error as? SQLiteError)?.isFull == true)
            // SQLite may undo only the statement or the whole transaction (it does the
            // latter here); either way what the callers were told must match what is stored.
            let stored = try await writer.perform { db in try db.queryAll("SELECT v FROM t ORDER BY id") { $0.text(0) } }
            switch smallResult {
            case .success: #expect(stored == ["small", "after"])
            case .failure: #expect(stored == ["after"])
            }
            _ = try await writer.perform { db in
                try db.run("PRAGMA max_page_count = 1000000")
                return try db.run("INSERT INTO t (v) VALUES (?1)", [.text(big)])
            }
            #expect(try await writer.perform { db in try count(db, "t") } == stored.count + 1)
        }
    }

    /// SQLite can end the transaction under a command (it does on SQLITE_FULL, IOERR,
    /// NOMEM); a command that ROLLBACKs by itself is the deterministic stand-in.
    @Test func transactionLostMidBatchFailsEarlierCommandsAndRerunsLaterOnes() async throws {
        try await withTempDir { dir async throws in
            let writer = try makeWriter(dir)
            defer { writer.stop() }
            let gate = Gate()
            gate.block(writer)
            let before = Task { try await writer.perform { db in try db.run("INSERT INTO t (v) VALUES ('before')") } }
            let culprit = Task { try await writer.perform { db in try db.execute("ROLLBACK") } }
            let later = Task { try await writer.perform { db in try db.run("INSERT INTO t (v) VALUES ('later')") } }
            try await waitUntil { writer.queuedCount == 3 }
            gate.open()
            for result in [await before.result.map { _ in () }, await culprit.result] {
                guard case .failure(let error) = result else {
                    Issue.record("command reported success although its transaction was rolled back")
                    continue
                }
                #expect((error as? SQLiteError)?.extendedCode == SQLiteError.abortRollback)
            }
            #expect(try await later.value == 1)
            #expect(writer.stats.transactionsFailed == 1)
            let stored = try await writer.perform { db in try db.queryAll("SELECT v FROM t") { $0.text(0) } }
            #expect(stored == ["later"])
        }
    }
}
