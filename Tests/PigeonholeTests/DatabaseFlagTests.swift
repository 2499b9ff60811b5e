import Foundation
import PostgresBackend
import PostgresTestSupport
import Testing

/// `--database` as a user meets it: a wrong URL, an unreachable server and a database
/// newer than the build each end in one line and exit code 1, quickly.
@Suite(.timeLimit(.minutes(3)))
struct DatabaseFlagTests {
    @Test func aWrongOrUnreachableDatabaseFailsInOneLine() throws {
        let started = Date()
        for (args, needle) in [
            (["serve", "--database", "mysql://root@127.0.0.1/x", "--admin-token", "t", "--port", "0"], "--database must be"),
            (["serve", "--database", "postgres://u:secret@127.0.0.1:1/x", "--admin-token", "t", "--port", "0"], "cannot use PostgreSQL"),
            (["user", "add", "alice", "--database", "postgres://u@127.0.0.1:1/x"], "cannot use PostgreSQL"),
            (["migrate", "--database", "postgresql://u@127.0.0.1:1/x"], "cannot use PostgreSQL"),
        ] {
            let r = try CLITests.run(args)
            #expect(r.status == 1, "\(args): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(needle), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("secret"), "the password is never printed")
        }
        #expect(Date().timeIntervalSince(started) < 10)
        // The environment variable is the same flag.
        let r = try CLITests.run(["user", "add", "bob"], environment: ["PIGEONHOLE_DATABASE_URL": "postgres://u@127.0.0.1:1/x"])
        #expect(r.status == 1 && r.stderr.contains("cannot use PostgreSQL"))
    }

    @Test func aPostgresNodeNeedsAnExplicitAdminToken() throws {
        let r = try CLITests.run(["serve", "--database", "postgres://u@127.0.0.1:1/x", "--port", "0"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("same --admin-token"))
    }
}

/// The same against a real PostgreSQL: the admin commands on a cluster's database, and
/// a database whose schema is newer than the build.
@Suite(.enabled(if: TestPostgres.serverURL != nil,
                "no PostgreSQL: set PIGEONHOLE_TEST_DATABASE_URL to a server's URL (.ci/run starts one)"),
       .timeLimit(.minutes(3)))
struct PostgresCLITests {
    @Test func adminCommandsAndMigrateWorkOnPostgres() throws {
        let db = try TestPostgres.createDatabase()
        defer { db.drop() }
        let migrate = try CLITests.run(["migrate", "--database", db.url])
        #expect(migrate.status == 0, "\(migrate.stderr)")
        #expect(migrate.stdout.contains("schema version \(PostgresMigrations.all.last!.version)"))
        #expect(try CLITests.run(["user", "add", "alice", "--database", db.url]).status == 0)
        let dup = try CLITests.run(["user", "add", "alice", "--database", db.url])
        #expect(dup.status == 1 && dup.stderr.contains("already exists"))
        let device = try CLITests.run(["device", "add", "alice", "phone", "--database", db.url])
        #expect(device.status == 0 && device.stdout.hasPrefix("ph_"))
        let list = try CLITests.run(["device", "list", "alice", "--database", db.url])
        #expect(list.status == 0 && list.stdout.contains("phone"))
    }

    @Test func aDatabaseNewerThanTheBuildIsRefusedInOneLine() throws {
        let db = try TestPostgres.createDatabase()
        defer { db.drop() }
        #expect(try CLITests.run(["migrate", "--database", db.url]).status == 0)
        let c = try PGConnection(url: db.url)
        try c.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)")
        c.close()
        for args in [["migrate", "--database", db.url], ["serve", "--database", db.url, "--admin-token", "t", "--port", "0"]] {
            let r = try CLITests.run(args)
            #expect(r.status == 1)
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("newer than this build"), "\(r.stderr)")
        }
    }

    /// Nodes starting at once on an empty database: each migration is applied once
    /// (an advisory lock), and every node starts.
    @Test func nodesStartingAtOnceApplyEachMigrationOnce() throws {
        let db = try TestPostgres.createDatabase()
        defer { db.drop() }
        let results = Locked<[Bool]>([])
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                let ok = (try? PostgresSyncStore(.init(url: db.url, poolSize: 1))).map { $0.stop(); return true } ?? false
                results.withLock { $0.append(ok) }
                group.leave()
            }
        }
        group.wait()
        #expect(results.value == [true, true, true, true])
        let c = try PGConnection(url: db.url)
        defer { c.close() }
        let versions = try c.queryAll("SELECT version FROM schema_migrations ORDER BY version") { $0.int(0) }
        #expect(versions == PostgresMigrations.all.map(\.version))
    }
}
