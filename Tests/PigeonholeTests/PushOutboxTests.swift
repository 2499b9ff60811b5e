import Foundation
import HTTPServer
import JSON
import Synchronization
@testable import SyncAPI
import SyncEngine
import Testing

/// A local webhook receiver on our own HTTP server: fails the first `failFirst`
/// requests with 500 (or never answers them with `hang`), then answers 200, and keeps
/// every push id it accepted.
final class WebhookHandler: HTTPHandler {
    let failFirst: Int
    let hang: Bool
    let requests = Atomic<Int>(0)
    let accepted = Mutex<[String]>([])
    let bodies = Mutex<[JSONValue]>([])

    init(failFirst: Int, hang: Bool) {
        self.failFirst = failFirst
        self.hang = hang
    }

    func handle(_ request: HTTPRequest, _ responder: Responder) {
        let n = requests.wrappingAdd(1, ordering: .relaxed).newValue
        let body = (try? JSONParser.parse(request.body)) ?? .null
        bodies.withLock { $0.append(body) }
        if n <= failFirst {
            if hang { return }   // never answers: the dispatcher times out (or dies first)
            return responder.respond(.error(.internalServerError, code: "boom", message: "try again"))
        }
        let ids = body["pushes"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        accepted.withLock { $0.append(contentsOf: ids) }
        responder.respond(.json(.ok, Array(#"{"ok":true}"#.utf8)))
    }
}

/// A local webhook receiver on our own HTTP server: fails the first `failFirst`
/// requests with 500 (or never answers them with `hang`), then answers 200, and keeps
/// every push id it accepted.
final class WebhookReceiver {
    let handler: WebhookHandler
    let server: HTTPServer

    init(failFirst: Int = 0, hang: Bool = false) throws {
        handler = WebhookHandler(failFirst: failFirst, hang: hang)
        var config = HTTPServerConfiguration()
        config.port = 0
        config.threads = 1
        server = try HTTPServer(configuration: config, handler: handler, logger: .silent)
        server.start()
    }

    var url: String { "http://127.0.0.1:\(server.port)/push" }
    var requestCount: Int { handler.requests.load(ordering: .relaxed) }
    var acceptedIDs: [String] { handler.accepted.withLock { $0 } }
    var allBodies: [JSONValue] { handler.bodies.withLock { $0 } }

    private var stopped = false
    func stop() {
        guard !stopped else { return }
        stopped = true
        server.shutdown(grace: .milliseconds(50))
    }
}

@Suite(.timeLimit(.minutes(3)))
struct PushOutboxTests {
    static func configure(_ hook: WebhookReceiver, attempts: Int = 8) -> (inout PigeonholeServer.Configuration) -> Void {
        configure(url: hook.url, attempts: attempts)
    }

    static func configure(url: String, attempts: Int = 8) -> (inout PigeonholeServer.Configuration) -> Void {
        { c in
            c.api.pushWebhook = url
            c.api.pushPollInterval = .milliseconds(20)
            c.api.pushTimeout = .milliseconds(300)
            c.api.engine.pushBackoffBaseMillis = 20
            c.api.engine.pushBackoffMaxMillis = 100
            c.api.engine.pushMaxAttempts = attempts
        }
    }

    @Test func anOfflineMemberGetsAPushAfterRetries() throws {
        let hook = try WebhookReceiver(failFirst: 2)
        defer { hook.stop() }
        try TestServer.with(configure: Self.configure(hook)) { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let seq = try alice.sendOK(room, "p1", "are you there?")
            #expect(eventually(timeout: 5) { hook.acceptedIDs.count == 1 })
            let ids = hook.acceptedIDs
            let bodies = hook.allBodies
            #expect(hook.requestCount == 3)   // two failures, then delivered
            // The same stable id on every attempt, for the receiver's de-duplication.
            let attemptIDs = bodies.compactMap { $0["pushes"]?.arrayValue?.first?["id"]?.stringValue }
            #expect(Set(attemptIDs) == Set(ids) && attemptIDs.count == 3)
            let push = try #require(bodies.last?["pushes"]?.arrayValue?.first)
            #expect(push["user"]?.stringValue == "bob")
            #expect(push["attempt"]?.intValue == 3)
            #expect(push["message"]?["seq"]?.int64Value == seq)
            #expect(push["message"]?["body"]?["text"]?.stringValue == "are you there?")
            // Delivered pushes leave the outbox.
            #expect(eventually { (try? server.admin.get("/v1/admin/pushes", token: TestServer.adminToken).json["pending"]?.intValue) == 0 })
        }
    }

    @Test func anOnlineMemberGetsNoPush() throws {
        let hook = try WebhookReceiver()
        defer { hook.stop() }
        try TestServer.with(configure: Self.configure(hook)) { server in
            let alice = try server.createUser("alice", device: "phone")
            let bob = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            let cursor = try #require(bob.get("/v1/conversations").json["cursor"]?.stringValue)
            // Bob has a pull parked: he is connected, the message reaches him directly.
            let poller = try server.connect()
            let parked = DispatchSemaphore(value: 0)
            let token = bob.token
            Thread.detachNewThread {
                _ = try? poller.get("/v1/sync?cursor=\(cursor)&timeout=5", token: token)
                parked.signal()
            }
            #expect(eventually { server.parkedPolls == 1 })
            try alice.sendOK(room, "p1", "hi")
            parked.wait()
            // A push is queued by the send itself (in its unit of work) and leaves the outbox
            // only after the webhook got it: an empty outbox, then an untouched webhook,
            // mean no push now or later.
            let outbox = try server.admin.get("/v1/admin/pushes", token: TestServer.adminToken).json
            #expect(outbox["pending"]?.intValue == 0 && outbox["dead_total"]?.intValue == 0, "\(outbox.serializedString)")
            #expect(hook.requestCount == 0)
        }
    }

    @Test func aPushIsDeadAfterTheMaximumAttempts() throws {
        let hook = try WebhookReceiver(failFirst: 1000)
        defer { hook.stop() }
        try TestServer.with(configure: Self.configure(hook, attempts: 3)) { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            try alice.sendOK(room, "p1", "hello?")
            var dead: [JSONValue] = []
            #expect(eventually(timeout: 5) {
                dead = (try? server.admin.get("/v1/admin/pushes", token: TestServer.adminToken).json["dead"]?.arrayValue) ?? []
                return dead.count == 1
            })
            #expect(dead.first?["user"]?.stringValue == "bob")
            #expect(dead.first?["attempts"]?.intValue == 3)
            #expect(dead.first?["last_error"]?.stringValue?.contains("500") == true)
            #expect(hook.requestCount == 3)
            // A device token cannot read the dead letters.
            #expect(try alice.get("/v1/admin/pushes").status == 401)
        }
    }

    @Test func aServerStoppedMidDeliveryDeliversAfterRestart() throws {
        try TemporaryDirectory.with { dir in
            let hanging = try WebhookReceiver(failFirst: 1000, hang: true)
            defer { hanging.stop() }
            var first: TestServer? = try TestServer(directory: dir, durability: .full, configure: {
                Self.configure(hanging)(&$0)
                $0.api.pushTimeout = .seconds(30)   // the request is still in flight when we stop
            })
            let alice = try first!.createUser("alice", device: "phone")
            _ = try first!.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            try alice.sendOK(room, "p1", "survive this")
            #expect(eventually { hanging.requestCount == 1 })
            hanging.stop()        // the webhook vanishes mid-request
            first!.shutdown()     // and the server goes down before recording anything
            first = nil

            let healthy = try WebhookReceiver()
            defer { healthy.stop() }
            let second = try TestServer(directory: dir, durability: .full, configure: Self.configure(healthy))
            defer { second.shutdown() }
            #expect(eventually(timeout: 5) { healthy.acceptedIDs == ["m1-u2"] })
        }
    }
}
