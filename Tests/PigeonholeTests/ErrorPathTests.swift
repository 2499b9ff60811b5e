import Foundation
import JSON
import SyncEngine
import Testing

/// Error paths that no other suite reaches.
@Suite(.timeLimit(.minutes(3)))
struct ErrorPathTests {
    @Test func aBodyThatIsNotJSONByMediaTypeIs415ButCurlsDefaultIsAccepted() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let body = Array(#"{"client_msg_id":"m1","body":"hi"}"#.utf8)
            let client = try server.connect()
            expectError(try client.request("POST", "/v1/rooms/\(room)/messages", token: alice.token, body: body,
                                           contentType: "multipart/form-data; boundary=x"), 415, "unsupported_media_type")
            // curl -d sends x-www-form-urlencoded: taken as the JSON it is.
            let curlish = try client.request("POST", "/v1/rooms/\(room)/messages", token: alice.token, body: body,
                                             contentType: "application/x-www-form-urlencoded")
            #expect(curlish.status == 201)
        }
    }

    @Test func aWriteAfterTheWriterStoppedIsShuttingDown() throws {
        try TestServer.with { server in
            _ = try server.createUser("alice", device: "phone")
            server.writer.stop()
            let done = DispatchSemaphore(value: 0)
            let outcome = Locked<Result<User, SyncError>?>(nil)
            server.engine.write({ try Accounts.createUser($0, name: "late") }) { r in
                outcome.withLock { $0 = r }
                done.signal()
            }
            #expect(done.wait(timeout: .now() + 2) == .success)
            #expect(outcome.withLock { $0.map { if case .failure(.shuttingDown) = $0 { true } else { false } } } == true)
            // Over HTTP: 503 shutting_down with Retry-After, and reads still work.
            let r = try server.admin.post("/v1/admin/users", json: ["name": "later"], token: TestServer.adminToken)
            expectError(r, 503, "shutting_down")
            #expect(r.header("Retry-After") == "1")
            #expect(try server.admin.get("/healthz").status == 200)
        }
    }

    @Test func aBadPushWebhookURLIsAUsageError() throws {
        let dir = CLITests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLITests.run(["serve", "--push-webhook", "https://example.com/hook", "--data-dir", dir])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--push-webhook"))
    }
}
