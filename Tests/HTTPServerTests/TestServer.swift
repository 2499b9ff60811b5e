import Foundation
import JSON
import Synchronization
@testable import HTTPServer
import WebSocket

/// The routes the transport tests talk to.
enum TestRoute: Sendable {
    case hello, echo, small, big, blob(kib: Int), later(ms: Int), park, item(String), deleteItem(String), ws
}

final class TestHandler: HTTPHandler {
    let router: Router<TestRoute>
    let cancelled = Atomic<Int>(0)
    let parked = Atomic<Int>(0)
    let wsClosed = Atomic<Int>(0)
    /// Requests of `/blob/{kib}` answered (a measure of how far the server read).
    let blobs = Atomic<Int>(0)
    let wsPingInterval: Duration

    init(wsPingInterval: Duration = .seconds(30)) {
        self.wsPingInterval = wsPingInterval
        var r = Router<TestRoute>()
        r.add(.GET, "/ws") { _ in .ws }
        r.add(.GET, "/hello") { _ in .hello }
        r.add(.POST, "/echo") { _ in .echo }
        r.add(.POST, "/small", bodyLimit: 16) { _ in .small }
        r.add(.GET, "/big") { _ in .big }
        r.add(.GET, "/blob/{kib}") { .blob(kib: min(Int($0[0]) ?? 1, 64 * 1024)) }
        r.add(.GET, "/later/{ms}") { .later(ms: Int($0[0]) ?? 0) }
        r.add(.GET, "/park") { _ in .park }
        r.add(.GET, "/items/{id}") { .item($0[0]) }
        r.add(.DELETE, "/items/{id}") { .deleteItem($0[0]) }
        router = r
    }

    func bodyLimit(for head: HTTPRequestHead) -> Int? { router.bodyLimit(for: head) }

    func handle(_ request: HTTPRequest, _ responder: Responder) {
        switch router.resolve(request.head) {
        case .response(let r):
            responder.respond(r)
        case .route(.hello):
            responder.respond(.json(.ok, Array(#"{"hello":"world"}"#.utf8)))
        case .route(.echo), .route(.small):
            responder.respond(.json(.ok, request.body))
        case .route(.big):
            let body = "[" + (0..<200).map { #"{"n":\#($0),"text":"aaaaaaaaaaaa"}"# }.joined(separator: ",") + "]"
            responder.respond(.json(.ok, Array(body.utf8)))
        case .route(.blob(let kib)):
            blobs.wrappingAdd(1, ordering: .relaxed)
            responder.respond(HTTPResponse(status: .ok, body: [UInt8](repeating: UInt8(ascii: "a"), count: kib * 1024),
                                           contentType: "application/octet-stream"))
        case .route(.later(let ms)):
            // Answer later from the loop's timer: the connection stays parked meanwhile.
            responder.loop.schedule(after: .milliseconds(ms)) {
                responder.respond(.json(.ok, Array(#"{"waited_ms":\#(ms)}"#.utf8)))
            }
        case .route(.park):
            parked.wrappingAdd(1, ordering: .relaxed)
            responder.onCancel { [self] in self.cancelled.wrappingAdd(1, ordering: .relaxed) }
        case .route(.item(let id)):
            var w = JSONWriter()
            w.object { w in w.field("id", id) }
            responder.respond(.json(.ok, w.bytes))
        case .route(.deleteItem):
            responder.respond(HTTPResponse(status: .noContent))
        case .route(.ws):
            switch WebSocketHandshake.validate(request.head) {
            case .reject(let r): responder.respond(r)
            case .accept(let key):
                var config = WebSocketConfiguration()
                config.pingInterval = wsPingInterval
                let echo = EchoDelegate(closed: self)
                _ = responder.upgradeToWebSocket(acceptKey: key, delegate: echo, configuration: config)
            }
        }
    }
}

/// Echoes text messages back, upper-cased (so the echo is distinguishable); "close" asks the server to close.
final class EchoDelegate: WebSocketDelegate {
    let owner: TestHandler
    init(closed owner: TestHandler) { self.owner = owner }
    func webSocket(_ ws: WebSocket, didReceiveText text: String) {
        if text == "close" { return ws.close(.normal) }
        ws.send(text: text.uppercased())
    }
    func webSocketDidClose(_ ws: WebSocket) { owner.wsClosed.wrappingAdd(1, ordering: .relaxed) }
}

/// Starts a server on 127.0.0.1:0 for one test and stops it afterwards.
func withTestServer(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                    wsPingInterval: Duration = .seconds(30),
                    _ body: (HTTPServer, TestHandler) throws -> Void) throws {
    var config = HTTPServerConfiguration()
    config.port = 0
    config.threads = 2
    configure(&config)
    let handler = TestHandler(wsPingInterval: wsPingInterval)
    let server = try HTTPServer(configuration: config, handler: handler, logger: .silent)
    server.start()
    defer { server.shutdown(grace: .milliseconds(100)) }
    try body(server, handler)
}

/// Polls `condition` until true or `timeout` seconds pass: a wait on the condition
/// itself (the 5 ms pause is only how often it is looked at).
func eventually(timeout: Double = 2, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}
