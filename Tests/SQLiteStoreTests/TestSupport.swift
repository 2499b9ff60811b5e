import Foundation
import SQLiteStore
import Testing

/// A fresh directory per test, removed afterwards. A closure rather than an object
/// with deinit: ARC may release an object right after its last use, which could
/// delete the directory while a connection still has files open in it.
func withTempDir<T>(_ body: (String) throws -> T) throws -> T {
    let dir = try makeTempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

func withTempDir<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = try makeTempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try await body(dir)
}

private func makeTempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sqlitestore-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A fresh read-write database in its own temp directory.
func withDatabase<T>(options: Database.Options = Database.Options(), _ body: (Database, String) throws -> T) throws -> T {
    try withTempDir { dir throws in
        let path = dir + "/test.sqlite"
        let db = try Database(path: path, options: options)
        defer { db.close() }
        return try body(db, path)
    }
}

/// Polls until `condition` holds; fails the test after `timeout`. For states the
/// writer thread reaches asynchronously (e.g. "N commands queued"); the 1 ms pause is
/// only how often the condition is looked at.
func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool,
               sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not reached within \(timeout)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}

func count(_ db: Database, _ table: String) throws -> Int {
    try db.queryOne("SELECT count(*) FROM \(table)") { $0.int(0) } ?? -1
}

struct TestError: Error, Equatable {
    let tag: String
}

