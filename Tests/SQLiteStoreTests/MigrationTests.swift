import SQLiteBackend
import Foundation
import SQLiteStore
import SyncEngine
import Testing

@Suite struct MigrationTests {
    static func tables(_ db: Database) throws -> Set<String> {
        Set(try db.queryAll("SELECT name FROM sqlite_schema WHERE type = 'table'") { $0.text(0) })
    }

    @Test func schemaMigrationsApplyOnFreshDatabaseThenNothing() throws {
        try withDatabase { db, _ throws in
            #expect(!Schema.migrations.isEmpty)
            #expect(try MigrationRunner.currentVersion(db) == 0)
            let applied = try MigrationRunner.apply(Schema.migrations, to: db)
            #expect(applied == Schema.migrations)
            #expect(try Self.tables(db).isSuperset(of: [
                "schema_migrations", "users", "devices", "rooms", "members", "messages", "inbox",
            ]))
            #expect(try MigrationRunner.currentVersion(db) == (Schema.migrations.last?.version ?? 0))
            let recorded = try db.queryAll("SELECT version, name, applied_at FROM schema_migrations ORDER BY version") {
                ($0.int(0), $0.text(1), $0.int64(2))
            }
            #expect(recorded.map(\.0) == Schema.migrations.map(\.version))
            #expect(recorded.map(\.1) == Schema.migrations.map(\.name))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            #expect(recorded.allSatisfy { abs($0.2 - now) < 60_000 })  // milliseconds, not seconds

            #expect(try MigrationRunner.apply(Schema.migrations, to: db).isEmpty)
        }
    }

    /// Upgrading a database with data: 0005 rebuilds the inbox keeping every row, and
    /// 0006 marks the memberships of rooms that were already hot.
    @Test func upgradesKeepInboxRowsAndMarkHotMemberships() throws {
        try withDatabase { db, _ throws in
            let upTo4 = Schema.migrations.filter { $0.version <= 4 }
            try MigrationRunner.apply(upTo4, to: db)
            try db.execute("""
                INSERT INTO users (id, name, created_at) VALUES (1, 'a', 0), (2, 'b', 0);
                INSERT INTO rooms (id, kind, name, last_seq, last_active_at, member_count, hot, created_at)
                    VALUES (10, 'group', 'big', 0, 0, 2, 1, 0), (11, 'group', 'small', 0, 0, 2, 0, 0);
                INSERT INTO members (room_id, user_id, joined_seq, read_seq, last_active_at, role)
                    VALUES (10, 1, 0, 0, 0, 'owner'), (10, 2, 0, 0, 0, 'member'), (11, 1, 0, 0, 0, 'owner'), (11, 2, 0, 0, 0, 'member');
                INSERT INTO inbox (user_id, seq, kind, room_id, payload, created_at) VALUES (1, 1, 'member', 11, '{}', 0), (2, 1, 'member', 11, '{}', 0);
                """)
            try MigrationRunner.apply(Schema.migrations, to: db)
            #expect(try db.queryAll("SELECT user_id, seq, kind FROM inbox ORDER BY user_id") { "\($0.int(0)):\($0.int(1)):\($0.text(2))" }
                == ["1:1:member", "2:1:member"])
            #expect(try db.queryAll("SELECT room_id, user_id FROM members WHERE hot = 1 ORDER BY user_id") { "\($0.int(0))/\($0.int(1))" }
                == ["10/1", "10/2"])
        }
    }

    @Test func failingMigrationKeepsEarlierVersionsOnly() throws {
        let migrations = [
            Migration(version: 1, name: "a", sql: "CREATE TABLE a (x INTEGER);"),
            Migration(version: 2, name: "b", sql: "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);"),
            Migration(version: 3, name: "bad", sql: "CREATE TABLE c (x INTEGER); INSERT INTO nowhere VALUES (1);"),
            Migration(version: 4, name: "d", sql: "CREATE TABLE d (x INTEGER);"),
        ]
        try withDatabase { db, _ throws in
            let error = #expect(throws: MigrationError.self) { try MigrationRunner.apply(migrations, to: db) }
            guard case .failed(let version, let name, let sqlite)? = error else {
                Issue.record("unexpected \(String(describing: error))")
                return
            }
            #expect(version == 3 && name == "bad" && sqlite.code == 1)
            #expect(try MigrationRunner.currentVersion(db) == 2)
            let tables = try Self.tables(db)
            #expect(tables.isSuperset(of: ["a", "b"]))
            #expect(tables.isDisjoint(with: ["c", "d"]))  // c's CREATE rolled back with the failed INSERT
            #expect(try count(db, "a") == 1)
            #expect(!db.isInTransaction)
        }
    }

    @Test func databaseNewerThanCodeIsRefused() throws {
        let v1 = Migration(version: 1, name: "a", sql: "CREATE TABLE a (x);")
        let v2 = Migration(version: 2, name: "b", sql: "CREATE TABLE b (x);")
        try withDatabase { db, _ throws in
            try MigrationRunner.apply([v1, v2], to: db)
            #expect(throws: MigrationError.databaseNewerThanCode(dbVersion: 2, codeVersion: 1)) {
                try MigrationRunner.apply([v1], to: db)
            }
            let renamed = Migration(version: 2, name: "renamed", sql: v2.sql)
            #expect(throws: MigrationError.nameMismatch(version: 2, database: "b", code: "renamed")) {
                try MigrationRunner.apply([v1, renamed], to: db)
            }
        }
    }

    @Test func listMustBeStrictlyIncreasing() throws {
        let a = Migration(version: 2, name: "a", sql: "")
        let b = Migration(version: 1, name: "b", sql: "")
        try withDatabase { db, _ throws in
            #expect(throws: MigrationError.invalidOrder(version: 1, after: 2)) { try MigrationRunner.apply([a, b], to: db) }
            #expect(throws: MigrationError.invalidOrder(version: 2, after: 2)) { try MigrationRunner.apply([a, a], to: db) }
            #expect(try MigrationRunner.currentVersion(db) == 0)
        }
    }

    @Test(arguments: [
        ("0001_init.sql", 1, "init"),
        ("0042_add_receipts_2.sql", 42, "add_receipts_2"),
        ("123456_x.sql", 123_456, "x"),
    ])
    func fileNamesParse(_ fileName: String, _ version: Int, _ name: String) throws {
        let migration = try Migration(fileName: fileName, sql: "SELECT 1;")
        #expect(migration.version == version)
        #expect(migration.name == name)
        #expect(migration.sql == "SELECT 1;")
    }

    @Test(arguments: [
        "001_init.sql", "0001-init.sql", "0001_Init.sql", "0001_.sql", "0001_init.SQL", "0001_init",
        "abcd_init.sql", "0001_in it.sql", "0000_init.sql", "0001_init.sql.bak", "_0001_init.sql",
        "0001__.sql.sql", ".sql", "0001_ü.sql",
    ])
    func badFileNamesAreRejected(_ fileName: String) {
        #expect(throws: MigrationError.invalidFileName(fileName)) { try Migration(fileName: fileName, sql: "") }
    }
}
