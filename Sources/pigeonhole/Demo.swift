import Dispatch
import Glibc
import HTTPClient
import HTTPServer
import JSON
import SyncAPI

/// `pigeonhole demo`: a server on a scratch data directory with a few users (alice with
/// two devices, bob, carol), a direct room and a group with some history, provisioned
/// through the server's own HTTP API. Prints one web client link per device
/// (`http://HOST:PORT/#token=...`: the token travels in the fragment, which browsers
/// never send to a server) and serves until SIGINT/SIGTERM.
func demo(_ settings: ServeConfiguration) throws {
    var serve = settings
    if serve.dataDirectory.isEmpty {
        var template = Array("/tmp/pigeonhole-demo-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw UsageError("cannot create a scratch directory under /tmp")
        }
        serve.dataDirectory = String(cString: dir)
    }
    let log = serve.logger
    let server = try openServer(&serve, log: log)
    let config = serve.server
    let stop = StopSignal()
    server.start()
    let host = config.http.host == "0.0.0.0" ? "127.0.0.1" : config.http.host
    do {
        let links = try DemoSetup(host: host, port: server.port, adminToken: config.api.adminToken).run()
        out("Pigeonhole demo: data in \(serve.dataDirectory)")
        out("Open each link in its own browser tab or window (one per device):\n")
        for (who, token) in links { out("  \(who.padding(18))http://\(host):\(server.port)/#token=\(token)") }
        out("\nalice has two devices: read on one and watch the badge clear on the other.")
        out("Stop with Ctrl-C; start again with --data-dir \(serve.dataDirectory) --port \(server.port) to keep the state.")
    } catch {
        server.shutdown(grace: .seconds(1))
        throw error
    }
    stop.wait()
    server.shutdown(grace: .seconds(5))
}

/// The demo's users, rooms and history, made through the HTTP API like any client.
struct DemoSetup {
    let host: String
    let port: UInt16
    let adminToken: String

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Returns ("user (device)", token) for each device made.
    func run() throws -> [(String, String)] {
        let http = BlockingHTTPClient(host: host, port: port)
        func call(_ method: String, _ path: String, _ token: String, _ body: JSONValue? = nil, ok: [Int]) throws -> JSONValue {
            let r = try http.request(method, path, token: token, body: body)
            guard ok.contains(r.status) else {
                throw Failure(description: "\(method) \(path): \(r.status) \(String(decoding: r.body, as: UTF8.self))")
            }
            return r.json ?? .null
        }
        // A second run on the same data directory keeps its users and rooms, and only adds devices.
        var fresh = true
        for name in ["alice", "bob", "carol"] {
            let r = try http.request("POST", "/v1/admin/users", token: adminToken, body: .object([("name", .string(name))]))
            if r.status == 409 { fresh = false } else if r.status != 201 {
                throw Failure(description: "create user \(name): \(r.status)")
            }
        }
        var links: [(String, String)] = []
        var tokens: [String: String] = [:]
        for (user, device) in [("alice", "laptop"), ("alice", "phone"), ("bob", "laptop"), ("carol", "phone")] {
            let d = try call("POST", "/v1/admin/users/\(user)/devices", adminToken, .object([("name", .string(device))]), ok: [201])
            guard let token = d["token"]?.stringValue else { throw Failure(description: "no token for \(user)") }
            links.append(("\(user) (\(device))", token))
            if tokens[user] == nil { tokens[user] = token }
        }
        guard fresh, let alice = tokens["alice"], let bob = tokens["bob"], let carol = tokens["carol"] else { return links }
        var n = 0
        func send(_ token: String, _ room: Int64, _ text: String) throws {
            n += 1
            _ = try call("POST", "/v1/rooms/\(room)/messages", token,
                         .object([("client_msg_id", .string("demo-\(n)")), ("body", .object([("text", .string(text))]))]), ok: [201])
        }
        let group = try call("POST", "/v1/rooms", carol,
                             .object([("name", .string("Weekend trip")), ("members", .array([.string("alice"), .string("bob")]))]), ok: [201])
        guard let groupID = group["id"]?.int64Value else { throw Failure(description: "no group id") }
        try send(carol, groupID, "Who's in for the lake on Saturday?")
        try send(bob, groupID, "Me! I can bring the kayak.")
        try send(alice, groupID, "Count me in. Leaving at 9?")
        try send(carol, groupID, "9 it is. I'll book the cabin.")
        let direct = try call("POST", "/v1/direct/alice", bob, ok: [200, 201])
        guard let directID = direct["id"]?.int64Value else { throw Failure(description: "no direct room id") }
        try send(bob, directID, "Hi Alice, got a minute?")
        try send(alice, directID, "Sure, what's up?")
        try send(bob, directID, "Did you see the new sync demo? Open it on two devices.")
        return links
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}
