import Foundation
import JSON
import SQLiteStore
import SyncEngine
import Testing

/// When SQLite cannot write (disk full, locked by another process, I/O error) a write
/// request fails with 503 `storage_unavailable` and `Retry-After`, leaves no partial
/// state, reads keep working, and the server recovers by itself once writing works
/// again: the very same send (same client_msg_id) then succeeds with 201.
@Suite(.timeLimit(.minutes(3)))
struct StorageFaultTests {
    static let bigText = String(repeating: "0123456789abcdef", count: 750)   // 12,000 bytes: needs overflow pages

    // MARK: disk full

    @Test func diskFullFailsTheSendWith503AndTheSameSendSucceedsOnceThereIsRoom() throws {
        try TestServer.with { server in
            let (alice, bob, room) = try Self.setUp(server)
            let bobCursor = try bob.conversationsCursor()
            try alice.sendOK(room, "warm-1", "before the disk fills")

            // The database may not grow past its current size (max_page_count can't go
            // below it). A 12 KB body needs new overflow pages, so sends fail as soon as
            // the free pages (if any) are used up.
            let limit = try Self.onWriter(server) { db -> Int64 in
                let pages = try db.queryOne("PRAGMA page_count") { $0.int64(0) } ?? 0
                return try db.queryOne("PRAGMA max_page_count = \(pages)") { $0.int64(0) } ?? -1
            }
            #expect(limit > 0)

            var failed: (cmid: String, before: StoredState, response: HTTPTestResponse)?
            for i in 1...50 {
                let before = try StoredState(server, room: room)
                let r = try alice.send(room, "big-\(i)", Self.bigText)
                if r.status == 201 { continue }   // it still fit (free pages)
                failed = ("big-\(i)", before, r)
                break
            }
            let (cmid, before, r) = try #require(failed, "the database never filled up")
            expectError(r, 503, "storage_unavailable")
            #expect(r.header("Retry-After") == "1")
            #expect(try StoredState(server, room: room) == before, "a failed send left partial state")

            // Reads keep working while the disk is full.
            try Self.expectReadsWork(server, alice: alice, bob: bob, bobCursor: bobCursor, room: room, lastSeq: before.lastSeq)
            // Still full: a retry fails the same way and changes nothing.
            expectError(try alice.send(room, cmid, Self.bigText), 503, "storage_unavailable")
            #expect(try StoredState(server, room: room) == before)

            // Room again: the same send is created (201, not a duplicate: nothing of the
            // failed attempt was stored), with the next seq, in every member's inbox.
            _ = try Self.onWriter(server) { db in try db.queryOne("PRAGMA max_page_count = 1073741823") { $0.int64(0) } }
            try Self.expectRecovered(server, alice: alice, bob: bob, bobCursor: bobCursor, room: room,
                                     cmid: cmid, text: Self.bigText, before: before)
        }
    }

    // MARK: locked

    @Test func aDatabaseLockedByAnotherProcessFailsSendsWith503UntilReleased() throws {
        try TestServer.with(storage: { $0.database.busyTimeoutMilliseconds = 100 }) { server in
            let (alice, bob, room) = try Self.setUp(server)
            let bobCursor = try bob.conversationsCursor()
            try alice.sendOK(room, "warm-1", "before the lock")

            // Another connection (as the sqlite3 shell or a backup tool would) takes the
            // write lock and keeps it well past the server's busy timeout.
            let other = try Database(path: server.databasePath, mode: .readWrite,
                                     options: Database.Options(busyTimeoutMilliseconds: 2000))
            defer { other.close() }
            try other.execute("BEGIN EXCLUSIVE")
            let before = try StoredState(server, room: room)

            let started = ContinuousClock.now
            let r = try alice.send(room, "locked-1", "while locked")
            expectError(r, 503, "storage_unavailable")
            #expect(r.header("Retry-After") == "1")
            #expect(ContinuousClock.now - started < .seconds(3), "the send waited far longer than the busy timeout")
            expectError(try bob.markReadResponse(room, 1), 503, "storage_unavailable")
            #expect(try StoredState(server, room: room) == before, "a failed send left partial state")
            try Self.expectReadsWork(server, alice: alice, bob: bob, bobCursor: bobCursor, room: room, lastSeq: before.lastSeq)

            try other.execute("ROLLBACK")
            try Self.expectRecovered(server, alice: alice, bob: bob, bobCursor: bobCursor, room: room,
                                     cmid: "locked-1", text: "while locked", before: before)
        }
    }

    // MARK: I/O error

    /// Every write to the WAL fails with EBADF (SQLite: SQLITE_IOERR_WRITE) while the
    /// server's descriptors of the -wal file are swapped for read-only ones of the same
    /// file; reads through them keep working. Swapping them back is "the disk is back".
    ///
    /// Swapping descriptors is process-wide, so it would race with the other tests'
    /// servers opening and closing files in parallel: the test runs itself again in a
    /// child process of the test binary, alone, and the parent asserts that it passed.
    @Test func anIOErrorOnCommitFailsTheSendWith503AndTheServerRecovers() throws {
        let name = "anIOErrorOnCommitFailsTheSendWith503AndTheServerRecovers"
        if ProcessInfo.processInfo.environment["PIGEONHOLE_TEST_CHILD"] != name {
            let child = try TestChild.run(filter: "StorageFaultTests/\(name)", marker: name)
            #expect(child.status == 0, "child test run failed:\n\(child.output)")
            #expect(child.output.contains("Test run with 1 test"), "the child ran no test:\n\(child.output)")
            return
        }
        try TestServer.with { server in
            let (alice, bob, room) = try Self.setUp(server)
            let bobCursor = try bob.conversationsCursor()
            try alice.sendOK(room, "warm-1", "before the I/O errors")
            let before = try StoredState(server, room: room)

            let wal = try Self.canonicalPath(server.databasePath) + "-wal"
            let broken = try ReadOnlyDescriptors(of: wal)
            #expect(broken.count >= 1, "no open descriptor of \(wal)")
            let r = try alice.send(room, "ioerr-1", "while the disk fails")
            let afterFailure = try StoredState(server, room: room)
            try Self.expectReadsWork(server, alice: alice, bob: bob, bobCursor: bobCursor, room: room, lastSeq: before.lastSeq)
            broken.restore()

            expectError(r, 503, "storage_unavailable")
            #expect(r.header("Retry-After") == "1")
            #expect(afterFailure == before, "a failed send left partial state")
            try Self.expectRecovered(server, alice: alice, bob: bob, bobCursor: bobCursor, room: room,
                                     cmid: "ioerr-1", text: "while the disk fails", before: before)
        }
    }

    // MARK: helpers

    /// alice, bob and carol, one device each, and a group of the three.
    static func setUp(_ server: TestServer) throws -> (TestDevice, TestDevice, Int64) {
        let alice = try server.createUser("alice", device: "phone")
        let bob = try server.createUser("bob", device: "phone")
        _ = try server.createUser("carol", device: "phone")
        let room = try alice.createGroup("faults", members: ["bob", "carol"])
        return (alice, bob, room)
    }

    /// Runs `body` on the server's writer connection as one command of the next batch.
    static func onWriter<T: Sendable>(_ server: TestServer, _ body: @escaping @Sendable (Database) throws -> T) throws -> T {
        let result = Locked<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        server.writer.submit(body) { r in
            result.withLock { $0 = r }
            done.signal()
        }
        guard done.wait(timeout: .now() + 10) == .success, let r = result.value else { throw TestFailure("writer command timed out") }
        return try r.get()
    }

    static func canonicalPath(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else { throw TestFailure("realpath \(path): errno \(errno)") }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Conversations, room, history, pull (bob from before the warm-up message) and
    /// /healthz answer normally.
    static func expectReadsWork(_ server: TestServer, alice: TestDevice, bob: TestDevice, bobCursor: String, room: Int64,
                                lastSeq: Int64, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let health = try server.admin.get("/healthz")
        #expect(health.status == 200, "healthz: \(health.text)", sourceLocation: sourceLocation)
        let list = try bob.get("/v1/conversations")
        #expect(list.status == 200, "conversations: \(list.text)", sourceLocation: sourceLocation)
        #expect(list.json["conversations"]?.array.first?["last_seq"]?.int64Value == lastSeq, sourceLocation: sourceLocation)
        let info = try alice.get("/v1/rooms/\(room)")
        #expect(info.status == 200, sourceLocation: sourceLocation)
        #expect(info.json["last_seq"]?.int64Value == lastSeq, sourceLocation: sourceLocation)
        let history = try alice.fullHistory(room, limit: 100).messages
        #expect(history.compactMap { $0["seq"]?.int64Value } == Array(1...lastSeq), sourceLocation: sourceLocation)
        let pull = try bob.pull(bobCursor)
        #expect(pull.status == 200, "pull: \(pull.text)", sourceLocation: sourceLocation)
        #expect(ReceivedMessage.from(pull.json["events"]?.array ?? []).map(\.seq) == Array(1...lastSeq), sourceLocation: sourceLocation)
    }

    /// The same send as the one that failed now succeeds (201, the next seq, one inbox
    /// row per member), bob pulls it once, and a resend is the duplicate.
    static func expectRecovered(_ server: TestServer, alice: TestDevice, bob: TestDevice, bobCursor: String, room: Int64,
                                cmid: String, text: String, before: StoredState,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let retried = try alice.send(room, cmid, text)
        #expect(retried.status == 201, "retry after recovery: \(retried.text)", sourceLocation: sourceLocation)
        #expect(retried.json["duplicate"]?.boolValue == false, sourceLocation: sourceLocation)
        #expect(retried.json["seq"]?.int64Value == before.lastSeq + 1, sourceLocation: sourceLocation)
        let after = try StoredState(server, room: room)
        #expect(after.messages == before.messages + 1, sourceLocation: sourceLocation)
        #expect(after.lastSeq == before.lastSeq + 1, sourceLocation: sourceLocation)
        #expect(after.messageInbox == before.messageInbox.map { $0 + 1 }, "one inbox row per member", sourceLocation: sourceLocation)

        let again = try alice.send(room, cmid, text)
        #expect(again.status == 200, sourceLocation: sourceLocation)
        #expect(again.json["duplicate"]?.boolValue == true, sourceLocation: sourceLocation)
        #expect(again.json["id"]?.int64Value == retried.json["id"]?.int64Value, sourceLocation: sourceLocation)
        // Other writes work too, and bob's stream has every message once, in order.
        try alice.sendOK(room, cmid + "-next", "after recovery")
        let stream = ReceivedMessage.from(try bob.pullAll(from: bobCursor).events)
        #expect(stream.map(\.seq) == Array(1...(before.lastSeq + 2)), sourceLocation: sourceLocation)
        #expect(stream.filter { $0.clientMsgID == cmid }.count == 1, sourceLocation: sourceLocation)
        #expect(try StoredState(server, room: room).messages == before.messages + 2, sourceLocation: sourceLocation)
    }
}

/// What a send writes, read straight from the file on a fresh read-only connection:
/// any difference after a failed send is partial state.
struct StoredState: Equatable, CustomStringConvertible {
    var messages: Int64
    var lastSeq: Int64
    /// `message` inbox rows per member of the room (by user id).
    var messageInbox: [Int64]
    /// The members' read markers and activity in the room (by user id).
    var readSeqs: [Int64]
    var activity: [Int64]

    init(_ server: TestServer, room: Int64) throws {
        let db = try server.openDatabase()
        defer { db.close() }
        let r = SQLValue.integer(room)
        messages = try db.queryOne("SELECT count(*) FROM messages") { $0.int64(0) } ?? -1
        lastSeq = try db.queryOne("SELECT last_seq FROM rooms WHERE id = ?", [r]) { $0.int64(0) } ?? -1
        messageInbox = try db.queryAll("""
            SELECT (SELECT count(*) FROM inbox i WHERE i.user_id = m.user_id AND i.kind = 'message')
            FROM members m WHERE m.room_id = ? ORDER BY m.user_id
            """, [r]) { $0.int64(0) }
        readSeqs = try db.queryAll("SELECT read_seq FROM members WHERE room_id = ? ORDER BY user_id", [r]) { $0.int64(0) }
        activity = try db.queryAll("SELECT last_active_at FROM members WHERE room_id = ? ORDER BY user_id", [r]) { $0.int64(0) }
    }

    var description: String {
        "messages \(messages), last_seq \(lastSeq), inbox \(messageInbox), read \(readSeqs), activity \(activity)"
    }
}

/// Swaps every descriptor this process has open on `path` for a read-only descriptor
/// of the same file (dup2), so writes through them fail with EBADF and reads still
/// work; `restore()` puts the originals back. Only for files the process holds no
/// fcntl locks on (SQLite's -wal: its locks live in -shm), since closing any
/// descriptor of a file drops the process's locks on it.
final class ReadOnlyDescriptors {
    private var saved: [(fd: Int32, original: Int32)] = []
    var count: Int { saved.count }

    init(of path: String) throws {
        // All matches first: the descriptors dup'ed below must not be swapped themselves.
        let fds = (try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")).compactMap { Int32($0) }.filter { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) == path
        }
        for fd in fds {
            let original = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            let readOnly = open(path, O_RDONLY | O_CLOEXEC)
            guard original >= 0, readOnly >= 0 else {
                if original >= 0 { close(original) }
                if readOnly >= 0 { close(readOnly) }
                restore()
                throw TestFailure("dup/open \(path): errno \(errno)")
            }
            dup2(readOnly, fd)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)   // as SQLite opened it
            close(readOnly)
            saved.append((fd, original))
        }
    }

    func restore() {
        for (fd, original) in saved {
            dup2(original, fd)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            close(original)
        }
        saved = []
    }

    deinit { restore() }
}

extension TestDevice {
    /// `POST /v1/rooms/{room}/read`, whatever the answer.
    func markReadResponse(_ room: Int64, _ seq: Int64) throws -> HTTPTestResponse {
        try post("/v1/rooms/\(room)/read", ["seq": .int(seq)])
    }
}
