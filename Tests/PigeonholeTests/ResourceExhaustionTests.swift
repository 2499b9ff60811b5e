import Foundation
import Glibc
import JSON
import Testing

/// Issue 13, item 9: with every file descriptor in use, making a device token opened
/// /dev/urandom, failed, and trapped the process (SIGILL). Tokens now come from
/// getrandom(2), which needs no descriptor.
@Suite(.timeLimit(.minutes(3)))
struct ResourceExhaustionTests {
    @Test func aDeviceIsCreatedWhileTheServerHasNoFileDescriptorLeft() throws {
        let child = try ChildServer(shellPrefix: "ulimit -n 64;")
        defer { child.stop() }
        let admin = try HTTPTestClient(port: child.port)
        let user = try admin.post("/v1/admin/users", json: ["name": "alice"], token: TestServer.adminToken)
        #expect(user.status == 201)

        // Fill the descriptor table: the kernel completes these connections (backlog),
        // the server accepts until accept4 fails with EMFILE.
        var flood: [HTTPTestClient] = []
        defer { flood.forEach { $0.close() } }
        for _ in 0..<120 {
            guard let c = try? HTTPTestClient(port: child.port, timeout: 1) else { break }
            flood.append(c)
        }
        #expect(eventually(timeout: 5) { child.openFDs >= 63 }, "the child has \(child.openFDs) descriptors open")

        let device = try admin.post("/v1/admin/users/alice/devices", json: ["name": "phone"], token: TestServer.adminToken)
        #expect(device.status == 201, "\(device.status) \(device.text)")
        #expect(device.json["token"]?.stringValue?.hasPrefix("ph_") == true)
        #expect(child.process.isRunning)

        flood.forEach { $0.close() }
        flood.removeAll()
        #expect(eventually(timeout: 5) { (try? HTTPTestClient(port: child.port, timeout: 1).get("/healthz").status) == 200 })
        let token = try #require(device.json["token"]?.stringValue)
        #expect(try HTTPTestClient(port: child.port).get("/v1/conversations", token: token).status == 200)
    }
}
