import Foundation
import SQLiteStore
import Testing

@Suite struct TransactionTests {
    @Test func commitKeepsAndThrowRollsBack() throws {
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (v INTEGER)")
            let value = try db.transaction(.immediate) { db in
                #expect(db.isInTransaction)
                try db.run("INSERT INTO t VALUES (1)")
                return 42
            }
            #expect(value == 42)
            #expect(!db.isInTransaction)
            #expect(throws: TestError(tag: "boom")) {
                try db.transaction(.deferred) { db in
                    try db.run("INSERT INTO t VALUES (2)")
                    throw TestError(tag: "boom")
                }
            }
            #expect(!db.isInTransaction)
            #expect(try db.queryAll("SELECT v FROM t") { $0.int(0) } == [1])
        }
    }

    @Test func savepointRollbackKeepsOuterWork() throws {
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (v INTEGER)")
            try db.transaction(.immediate) { db in
                try db.run("INSERT INTO t VALUES (1)")
                #expect(throws: TestError(tag: "inner")) {
                    try db.savepoint("inner") { db in
                        try db.run("INSERT INTO t VALUES (2)")
                        throw TestError(tag: "inner")
                    }
                }
                try db.savepoint("kept") { db in try db.run("INSERT INTO t VALUES (3)") }
                #expect(db.isInTransaction)
            }
            #expect(try db.queryAll("SELECT v FROM t ORDER BY v") { $0.int(0) } == [1, 3])
        }
    }

    @Test func savepointOutsideTransactionActsAsOne() throws {
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (v INTEGER)")
            try? db.savepoint("s") { db in
                try db.run("INSERT INTO t VALUES (1)")
                throw TestError(tag: "x")
            }
            #expect(!db.isInTransaction)
            try db.savepoint("s") { db in try db.run("INSERT INTO t VALUES (2)") }
            #expect(!db.isInTransaction)
            #expect(try db.queryAll("SELECT v FROM t") { $0.int(0) } == [2])
        }
    }

    @Test func failedCommitRollsBack() throws {
        try withDatabase { db, _ throws in
            try db.execute("""
                CREATE TABLE parent (id INTEGER PRIMARY KEY);
                CREATE TABLE child (id INTEGER PRIMARY KEY,
                                    parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
                """)
            let error = #expect(throws: SQLiteError.self) {
                try db.transaction(.immediate) { db in
                    try db.run("INSERT INTO child VALUES (1, 99)")  // checked only at COMMIT
                }
            }
            #expect(error?.isConstraintForeignKey == true)
            #expect(!db.isInTransaction)
            #expect(try count(db, "child") == 0)
        }
    }

    @Test func nestedTransactionIsAProgrammingError() async {
        await #expect(processExitsWith: .failure) {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("nested-\(UUID().uuidString).sqlite").path
            let db = try Database(path: path)
            try db.transaction(.immediate) { db in
                try db.transaction(.immediate) { _ in }
            }
        }
    }
}
