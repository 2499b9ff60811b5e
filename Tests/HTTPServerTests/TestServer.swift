import Foundation
import Synchronization
@testable import HTTPServer

/// The routes the transport tests talk to.
enum TestRoute: Sendable {
    case hello, echo, small, big, later(ms: Int), park, item(String), deleteItem(String)
}

final class TestHandler: HTTPHandler {
    let router: Router<TestRoute>
    let cancelled = Atomic<Int>(0)
    let parked = Atomic<Int>(0)

    init() {
        var r = Router<TestRoute>()
        r.add(.GET, "/hello") { _ in .hello }
        r.add(.POST, "/echo") { _ in .echo }
        r.add(.POST, "/small", bodyLimit: 16) { _ in .small }
        r.add(.GET, "/big") { _ in .big }
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
        case .route(.later(let ms)):
            // Answer later from the loop's timer: the connection stays parked meanwhile.
            responder.loop.schedule(after: .milliseconds(ms)) {
                responder.respond(.json(.ok, Array(#"{"waited_ms":\#(ms)}"#.utf8)))
            }
        case .route(.park):
            parked.wrappingAdd(1, ordering: .relaxed)
            responder.onCancel { [self] in self.cancelled.wrappingAdd(1, ordering: .relaxed) }
        case .route(.item(let id)):
            var out: [UInt8] = Array(#"{"id":"#.utf8)
            JSONString.append(id, to: &out)
            out.append(UInt8(ascii: "}"))
            responder.respond(.json(.ok, out))
        case .route(.deleteItem):
            responder.respond(HTTPResponse(status: .noContent))
        }
    }
}

/// Starts a server on 127.0.0.1:0 for one test and stops it afterwards.
func withTestServer(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                    _ body: (HTTPServer, TestHandler) throws -> Void) throws {
    var config = HTTPServerConfiguration()
    config.port = 0
    config.threads = 2
    configure(&config)
    let handler = TestHandler()
    let server = try HTTPServer(configuration: config, handler: handler, logger: .silent)
    server.start()
    defer { server.shutdown(grace: .milliseconds(100)) }
    try body(server, handler)
}

/// Polls `condition` until true or `timeout` seconds pass.
func eventually(timeout: Double = 2, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}
