import SQLiteBackend
import Dispatch
import Foundation
import SQLiteStore
import Synchronization
import SyncEngine
import Testing

/// Start-up, shutdown, and the writer next to read-only connections.
@Suite struct WriterLifecycleTests {
    @Test func stopDrainsQueueThenRefuses() throws {
        try withTempDir { dir throws in
            let writer = try makeWriter(dir)
            let gate = Gate()
            gate.block(writer)
            let succeeded = Atomic<Int>(0)
            for i in 0..<100 {
                writer.submit({ db in try db.run("INSERT INTO t (v) VALUES (?1)", [.init(i)]) },
                              completion: { if case .success = $0 { succeeded.add(1, ordering: .relaxed) } })
            }
            // stop() begins with the 100 queued behind the gate, which opens only once the
            // writer refuses new commands (stop is under way: the thread below yields until
            // then, which is at once, the test's thread being in stop() already).
            Thread {
                while !Self.refuses(writer) { sched_yield() }
                gate.open()
            }.start()
            writer.stop()  // returns after the queue is drained and the thread joined
            #expect(succeeded.load(ordering: .relaxed) == 100)
            writer.stop()  // idempotent
            let refused = Mutex<(any Error)?>(nil)
            writer.submit({ _ in 1 }, completion: { result in
                if case .failure(let error) = result { refused.withLock { $0 = error } }
            })
            #expect(refused.withLock { $0 as? WriterError } == .stopped)

            let walSize = (try? FileManager.default.attributesOfItem(atPath: dir + "/w.sqlite-wal")[.size] as? Int) ?? 0
            #expect(walSize == 0)  // checkpointed (TRUNCATE) or removed on close
            let db = try Database(path: dir + "/w.sqlite", mode: .readOnly)
            defer { db.close() }
            #expect(try count(db, "t") == 100)
        }
    }

    /// Whether `writer` refuses a command now (a harmless one runs if it does not).
    static func refuses(_ writer: Writer) -> Bool {
        let refused = Atomic<Bool>(false)
        writer.submit({ _ in () }, completion: { if case .failure(WriterError.stopped) = $0 { refused.store(true, ordering: .relaxed) } })
        return refused.load(ordering: .relaxed)
    }

    @Test func initFailsWhenOpenOrSetupFails() throws {
        try withTempDir { dir throws in
            #expect(throws: TestError(tag: "setup")) {
                try Writer(path: dir + "/w.sqlite") { _ in throw TestError(tag: "setup") }
            }
            let error = #expect(throws: SQLiteError.self) { try Writer(path: dir + "/missing/w.sqlite") }
            #expect(error?.code == 14)  // SQLITE_CANTOPEN
        }
    }

    @Test func migratedWriterAndReadOnlyReader() async throws {
        try await withTempDir { dir async throws in
            let path = dir + "/w.sqlite"
            let writer = try Writer(path: path) { db in try MigrationRunner.apply(Schema.migrations, to: db) }
            defer { writer.stop() }
            let reader = try Database(path: path, mode: .readOnly)
            defer { reader.close() }
            #expect(try MigrationRunner.currentVersion(reader) == (Schema.migrations.last?.version ?? 0))
            let id = try await writer.perform { db in
                try db.run("INSERT INTO users (name, created_at) VALUES ('ada', 1)")
                return db.lastInsertRowID
            }
            // Committed on the writer's connection, visible to the next read here (WAL).
            #expect(try reader.queryOne("SELECT name FROM users WHERE id = ?1", [.integer(id)]) { $0.text(0) } == "ada")
            let error = #expect(throws: SQLiteError.self) {
                try reader.run("INSERT INTO users (name, created_at) VALUES ('eve', 1)")
            }
            #expect(error?.isReadOnly == true)
        }
    }
}
