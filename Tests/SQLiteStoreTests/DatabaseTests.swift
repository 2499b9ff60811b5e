import Foundation
import SQLiteStore
import Testing

@Suite struct DatabaseTests {
    /// Shown escaped in the test log (a raw NUL would cut the log line).
    struct Text: CustomTestStringConvertible, Sendable {
        let value: String
        var testDescription: String { value.debugDescription }
    }

    static let texts = [
        "",
        "plain ascii",
        "héllo wörld, 鸽子, 🐦‍⬛ and a combining e\u{301}",
        "embedded\u{0}NUL\u{0}",
    ].map(Text.init)

    @Test(arguments: texts)
    func textRoundTrip(_ sample: Text) throws {
        let text = sample.value
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (s TEXT)")
            try db.run("INSERT INTO t (s) VALUES (?1)", [.text(text)])
            let back = try db.queryOne("SELECT s, length(CAST(s AS BLOB)), typeof(s) FROM t") { row in
                (row.text(0), row.int(1), row.text(2))
            }
            #expect(back?.0 == text)
            #expect(back?.1 == text.utf8.count)
            #expect(back?.2 == "text")
        }
    }

    @Test func largeTextAndBlobRoundTrip() throws {
        let text = String(repeating: "0123456789é", count: 100_000)  // 1.2 MB
        let blob = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (s TEXT, b BLOB)")
            try db.run("INSERT INTO t VALUES (?1, ?2)", [.text(text), .blob(blob)])
            let back = try db.queryOne("SELECT s, b FROM t") { ($0.text(0), $0.blob(1)) }
            #expect(back?.0 == text)
            #expect(back?.1 == blob)
        }
    }

    @Test func integersRealsBlobsAndNull() throws {
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, b BLOB, n TEXT)")
            let blob: [UInt8] = [0, 1, 2, 0, 255, 128]
            let ints: [Int64] = [.min, -1, 0, 1, .max]
            for value in ints {
                try db.run("INSERT INTO t (i, r, b, n) VALUES (?1, ?2, ?3, ?4)", [.integer(value), 0.5, .blob(blob), nil])
            }
            try db.run("INSERT INTO t (i, r, b, n) VALUES (?1, ?2, ?3, ?4)", [nil, .real(-1e300), .blob([]), "x"])
            let rows = try db.queryAll("SELECT i, r, b, n FROM t ORDER BY id") { row in
                (row.optionalInt64(0), row.double(1), row.blob(2), row.optionalText(3), row.isNull(3))
            }
            #expect(rows.map(\.0) == ints.map { Optional($0) } + [nil])
            #expect(rows.map(\.1) == Array(repeating: 0.5, count: 5) + [-1e300])
            #expect(rows.prefix(5).allSatisfy { $0.2 == blob })
            #expect(rows[5].2 == [])  // empty blob, not NULL
            #expect(rows.map(\.3) == [nil, nil, nil, nil, nil, "x"])
            #expect(rows.map(\.4) == [true, true, true, true, true, false])
            let typed = try db.queryOne("SELECT i, r, b, n FROM t WHERE id = 6") { row in (0..<4).map { row.value($0) } }
            #expect(typed == [.null, .real(-1e300), .blob([]), .text("x")])
        }
    }

    @Test func literalsAndConvenienceInitializers() {
        let values: [SQLValue] = [1, 2.5, "s", true, nil, .init(Int?.none), .init(Int64(7)), .init([UInt8]([1]))]
        #expect(values == [.integer(1), .real(2.5), .text("s"), .integer(1), .null, .null, .integer(7), .blob([1])])
    }

    @Test func lastInsertRowIDChangesAndQueryOneNil() throws {
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
            try db.run("INSERT INTO t (v) VALUES (1), (1), (2)")
            #expect(db.lastInsertRowID == 3)
            #expect(try db.run("UPDATE t SET v = 5 WHERE v = 1") == 2)
            #expect(db.changes == 2)
            #expect(try db.run("CREATE TABLE u (x)") == 0)  // not the UPDATE's stale 2
            #expect(try db.queryOne("SELECT v FROM t WHERE id = 99") { $0.int(0) } == nil)
        }
    }

    @Test func statementCacheReusesAndSurvivesNestedUse() throws {
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (v INTEGER)")
            let before = db.cachedStatementCount
            for i in 0..<100 { try db.run("INSERT INTO t (v) VALUES (?1)", [.init(i)]) }
            #expect(db.cachedStatementCount == before + 1)
            // The same SQL inside its own row closure must not reset the outer statement.
            let sql = "SELECT v FROM t WHERE v < ?1 ORDER BY v"
            var pairs = 0
            try db.query(sql, [3]) { outer in
                let inner = try db.queryAll(sql, [3]) { $0.int(0) }
                #expect(inner == [0, 1, 2])
                pairs += inner.count
                _ = outer.int(0)
            }
            #expect(pairs == 9)
            // Bindings are cleared after use: a reused statement does not keep old values.
            #expect(try db.queryAll(sql, [1]) { $0.int(0) } == [0])
        }
    }

    @Test func errorsCarryExtendedCodes() throws {
        try withDatabase { db, _ throws in
            try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, p INTEGER REFERENCES t(id))")
            try db.run("INSERT INTO t (id, name) VALUES (1, 'a')")
            let unique = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t (id, name) VALUES (2, 'a')") }
            #expect(unique?.isConstraintUnique == true)
            #expect(unique?.extendedCode == 2067)
            #expect(unique?.code == 19)
            let primaryKey = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t (id, name) VALUES (1, 'b')") }
            #expect(primaryKey?.extendedCode == 1555)
            #expect(primaryKey?.isConstraintUnique == true)
            let foreignKey = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t (id, p) VALUES (3, 42)") }
            #expect(foreignKey?.isConstraintForeignKey == true)
            #expect(foreignKey?.isConstraintUnique == false)
            let syntax = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO nowhere VALUES (") }
            #expect(syntax?.code == 1)
            #expect(syntax?.sql == "INSERT INTO nowhere VALUES (")
            let arity = #expect(throws: SQLiteError.self) { try db.run("SELECT ?1, ?2", [1]) }
            #expect(arity?.code == 25)  // SQLITE_RANGE
            let script = #expect(throws: SQLiteError.self) { try db.run("SELECT 1; SELECT 2") }
            #expect(script?.code == 21)  // SQLITE_MISUSE: scripts go through execute(_:)
            #expect(try db.run("SELECT 1; -- trailing comment") == 0)
        }
    }

    @Test(arguments: [Database.Durability.full, .normal])
    func pragmasAreInEffect(_ durability: Database.Durability) throws {
        try withDatabase(options: .init(durability: durability, busyTimeoutMilliseconds: 1234)) { db, _ throws in
            #expect(try db.queryOne("PRAGMA journal_mode") { $0.text(0) } == "wal")
            #expect(try db.queryOne("PRAGMA synchronous") { $0.int(0) } == (durability == .full ? 2 : 1))
            #expect(try db.queryOne("PRAGMA foreign_keys") { $0.int(0) } == 1)
            #expect(try db.queryOne("PRAGMA busy_timeout") { $0.int(0) } == 1234)
        }
    }

    @Test func readOnlyConnectionSeesCommittedDataAndCannotWrite() throws {
        try withDatabase { db, path throws in
            try db.execute("CREATE TABLE t (v TEXT)")
            try db.run("INSERT INTO t VALUES ('one')")
            let reader = try Database(path: path, mode: .readOnly)
            defer { reader.close() }
            #expect(try reader.queryOne("PRAGMA query_only") { $0.int(0) } == 1)
            #expect(try reader.queryOne("PRAGMA foreign_keys") { $0.int(0) } == 1)
            #expect(try reader.queryAll("SELECT v FROM t") { $0.text(0) } == ["one"])
            // An uncommitted write is invisible; once committed, the next read sees it.
            try db.transaction(.immediate) { db in
                try db.run("INSERT INTO t VALUES ('two')")
                #expect(try count(reader, "t") == 1)
            }
            #expect(try count(reader, "t") == 2)
            let error = #expect(throws: SQLiteError.self) { try reader.run("INSERT INTO t VALUES ('no')") }
            #expect(error?.isReadOnly == true)
        }
    }

    @Test func openFailureIsTypedAndCheckpointTruncatesWAL() throws {
        let error = #expect(throws: SQLiteError.self) {
            try Database(path: "/nonexistent-dir-\(UUID().uuidString)/x.sqlite")
        }
        #expect(error?.code == 14)  // SQLITE_CANTOPEN
        try withDatabase { db, path throws in
            try db.execute("CREATE TABLE t (v BLOB)")
            try db.run("INSERT INTO t VALUES (zeroblob(100000))")
            let walSize = { (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? -1 }
            #expect(walSize() > 0)
            let result = try db.checkpoint(truncate: true)
            #expect(result.walFrames == 0)
            #expect(walSize() == 0)
        }
    }
}
