import Foundation
import JSON
import SQLiteStore
import SyncEngine

/// Additive fixture helpers for tests that need many users (hot rooms) or look at the
/// stored rows themselves.
extension TestServer {
    /// Creates `names`, one device each (named `device`), in **one** writer command
    /// straight through the engine (`Accounts.createUser`/`createDevice`): 1,000 users
    /// take a fraction of a second even on a debug build, where 2,000 admin requests
    /// would take seconds. The devices share `client` (default: one new keep-alive
    /// connection), so use them from one thread at a time, or rebind with `on(_:)`.
    func provisionUsers(_ names: [String], device: String = "phone", client: HTTPTestClient? = nil) throws -> [TestDevice] {
        let result = Locked<Result<[ProvisionedDevice], SyncError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        engine.write({ ctx in
            var out: [ProvisionedDevice] = []
            out.reserveCapacity(names.count)
            for name in names {
                _ = try Accounts.createUser(ctx, name: name)
                let (d, token) = try Accounts.createDevice(ctx, userName: name, deviceName: device)
                out.append(ProvisionedDevice(id: d.id.rawValue, token: token))
            }
            return out
        }) { r in
            result.withLock { $0 = r }
            done.signal()
        }
        guard done.wait(timeout: .now() + 30) == .success, let r = result.value else {
            throw TestFailure("bulk provisioning of \(names.count) users timed out")
        }
        let made = try r.get()
        let shared = try client ?? connect()
        return zip(names, made).map { name, p in
            TestDevice(user: name, name: device, id: p.id, token: p.token, client: shared)
        }
    }

    /// A read-only connection to the server's database file (WAL: sees every commit),
    /// for counting stored rows. Confined to the calling thread.
    func openDatabase() throws -> Database {
        try Database(path: databasePath, mode: .readOnly)
    }

    /// `SELECT count(*) ...` (or any single integer) on a fresh read-only connection.
    func count(_ sql: String, _ values: [SQLValue] = []) throws -> Int64 {
        let db = try openDatabase()
        defer { db.close() }
        return try db.queryOne(sql, values) { $0.int64(0) } ?? -1
    }
}

struct ProvisionedDevice: Sendable {
    let id: Int64
    let token: String
}

extension TestDevice {
    /// The same device on another connection (e.g. one per helper thread).
    func on(_ client: HTTPTestClient) -> TestDevice {
        TestDevice(user: user, name: name, id: id, token: token, client: client)
    }

    /// `POST /v1/rooms/{room}/read`; requires a 200 and returns the resulting read_seq.
    @discardableResult
    func markRead(_ room: Int64, _ seq: Int64) throws -> Int64 {
        let r = try post("/v1/rooms/\(room)/read", ["seq": .int(seq)])
        guard r.status == 200, let s = r.json["read_seq"]?.int64Value else { throw TestFailure("read \(room)@\(seq): \(r.status) \(r.text)") }
        return s
    }

    /// Adds `names` to a group; requires a 200.
    func addMembers(_ room: Int64, _ names: [String]) throws {
        let r = try post("/v1/rooms/\(room)/members", ["members": .array(names.map { .string($0) })])
        guard r.status == 200 else { throw TestFailure("add \(names) to \(room): \(r.status) \(r.text)") }
    }

    /// Removes `name` from a group (leaving when it is the caller); requires a 204.
    func removeMember(_ room: Int64, _ name: String) throws {
        let r = try delete("/v1/rooms/\(room)/members/\(name)")
        guard r.status == 204 else { throw TestFailure("remove \(name) from \(room): \(r.status) \(r.text)") }
    }
}

extension TestServer {
    /// User ids by name, from the database (one query, however many users).
    func userIDs() throws -> [String: Int64] {
        let db = try openDatabase()
        defer { db.close() }
        var ids: [String: Int64] = [:]
        try db.query("SELECT name, id FROM users") { ids[$0.text(0)] = $0.int64(1) }
        return ids
    }
}
