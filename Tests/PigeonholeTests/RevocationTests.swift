import Foundation
import SQLiteBackend
@testable import SyncEngine
import Testing

/// Revoking a device ends what it already holds open, not only its next request.
@Suite(.timeLimit(.minutes(3)))
struct RevocationTests {
    @Test func revokingADeviceClosesItsSocketAndAnswersItsParkedPull() throws {
        try TestServer.with { server in
            let held = try Held.open(on: server)
            let started = Date()
            #expect(try server.admin.delete("/v1/admin/devices/\(held.phone.id)", token: TestServer.adminToken).status == 204)
            // The parked pull ends at once with 401, not at its 20 s timeout.
            try held.expectEnded(within: 2, since: started)
            #expect(server.server.http.openUpgradedConnections >= 1)
        }
    }

    /// Writes skip the token read for a device resolved recently (`PrincipalCache`); a
    /// revocation still takes effect at once: the very next send after the admin's 204
    /// is refused, and so is the socket start.
    @Test func aRevokedDeviceCannotSendTheMomentItsRevocationIsAnswered() throws {
        try TestServer.with { server in
            let phone = try server.createUser("alice", device: "phone")
            try server.createUser("bob")
            let room = try phone.directRoom(with: "bob")
            #expect(try phone.send(room, "before-1", "hi").status == 201)
            #expect(try phone.send(room, "before-2", "hi again").status == 201)   // the token is cached now
            #expect(server.engine.principals.count >= 1)
            #expect(try server.admin.delete("/v1/admin/devices/\(phone.id)", token: TestServer.adminToken).status == 204)
            expectError(try phone.send(room, "after", "still here?"), 401, "unauthorized")
            expectError(try phone.post("/v1/rooms/\(room)/read", raw: #"{"seq":1}"#), 401, "unauthorized")
        }
    }

    /// `pigeonhole device revoke` while the server runs is another process writing to
    /// the database: the server finds the revocation within its sweep interval and ends
    /// what the device holds open as for its own (the parked pull 401, the socket 1008,
    /// the cached token refused). Played with a second engine on the same file as the
    /// command's process; the server does not hear its writes otherwise.
    @Test func aRevocationByAnotherProcessEndsWhatTheDeviceHoldsOpen() throws {
        try TestServer.with(configure: { $0.api.engine.revocationSweepInterval = .milliseconds(100) }) { server in
            try server.createUser("bob")
            var room: Int64 = 0
            let held = try Held.open(on: server) { phone in
                room = try phone.directRoom(with: "bob")
                #expect(try phone.send(room, "before", "hi").status == 201)   // the token is cached now
            }

            let otherStore = try SQLiteSyncStore(.init(path: server.databasePath))
            let other = SyncEngine(store: otherStore, config: server.engine.config)
            defer { otherStore.stop() }
            let revoked = DispatchSemaphore(value: 0)
            let id = held.phone.id
            other.write({ try Accounts.revokeDevice($0, id: DeviceID(id)) }) { _ in revoked.signal() }
            #expect(revoked.wait(timeout: .now() + 5) == .success)
            try held.expectEnded(within: 3, since: Date())
            expectError(try held.phone.send(room, "after", "still here?"), 401, "unauthorized")
        }
    }
}

/// What alice's two devices hold open: the phone's socket and a pull it parked (20 s), the
/// laptop's socket; then what revoking the phone must do to them.
private struct Held {
    let phone: TestDevice
    let phoneSocket: WebSocketTestClient
    let laptopSocket: WebSocketTestClient
    let answer: Locked<HTTPTestResponse?>
    let done: DispatchSemaphore

    /// `before` runs once the phone exists, before anything is opened.
    static func open(on server: TestServer, before: (TestDevice) throws -> Void = { _ in }) throws -> Held {
        let phone = try server.createUser("alice", device: "phone")
        let laptop = try server.createDevice("alice", "laptop")
        try before(phone)
        let (phoneSocket, _) = try WebSocketTestClient.openReady(server, token: phone.token)
        let (laptopSocket, _) = try WebSocketTestClient.openReady(server, token: laptop.token)
        let cursor = try #require(phone.get("/v1/conversations").json["cursor"]?.stringValue)
        let poller = try server.connect()
        let answer = Locked<HTTPTestResponse?>(nil)
        let token = phone.token
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let r = try? poller.get("/v1/sync?cursor=\(cursor)&timeout=20", token: token)
            answer.withLock { $0 = r }
            done.signal()
        }
        #expect(eventually { server.parkedPolls == 1 })
        return Held(phone: phone, phoneSocket: phoneSocket, laptopSocket: laptopSocket, answer: answer, done: done)
    }

    /// The parked pull answered 401 within `seconds` of `started`; the phone's socket got
    /// a policy close (1008); the laptop's stays open and silent.
    func expectEnded(within seconds: Double, since started: Date) throws {
        #expect(done.wait(timeout: .now() + seconds + 2) == .success)
        #expect(Date().timeIntervalSince(started) < seconds)
        #expect(answer.withLock { $0?.status } == 401)
        let close = try phoneSocket.readFrame(timeout: 3)
        #expect(close.opcode == WebSocketTestClient.Frame.close)
        #expect(close.payload.prefix(2) == [0x03, 0xF0])
        #expect(laptopSocket.staysSilent(for: 0.2))
    }
}
