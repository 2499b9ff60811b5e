import HTTPClient
import JSON
import Sockets

/// An extra connection that only waits: a parked long-poll (re-issued when it times
/// out) or an open /v1/notify WebSocket. The cost the server pays per waiting client.
final class IdleActor: @unchecked Sendable {   // confined to `loop`
    let token: String
    let transport: DeviceActor.Transport
    let context: LoadContext
    let conn: ClientConnection
    var loop: EventLoop { conn.loop }
    private var stopped = false
    private var counted = false
    private var cursor: String?

    init(token: String, transport: DeviceActor.Transport, context: LoadContext, target: LoadTarget, loop: EventLoop) {
        self.token = token
        self.transport = transport
        self.context = context
        conn = ClientConnection(loop: loop, host: target.host, port: target.port)
    }

    func start() {
        switch transport {
        case .longpoll:
            // A new device has no acked position yet: its first screen gives the cursor.
            guard let cursor else {
                return conn.request("GET", "/v1/conversations?limit=1&preview=0", headers: [("Authorization", "Bearer \(token)")]) { [self] result in
                    if case .success(let r) = result, r.status == 200, let c = (try? JSONParser.parse(r.body))?["cursor"]?.stringValue {
                        cursor = c
                        return start()
                    }
                    retry(result)
                }
            }
            conn.request("GET", "/v1/sync?cursor=\(LoadTest.percentEncoded(cursor))&timeout=55&limit=100",
                         headers: [("Authorization", "Bearer \(token)")], timeout: .seconds(70)) { [self] result in
                if case .success(let r) = result, r.status == 200, let c = (try? JSONParser.parse(r.body))?["cursor"]?.stringValue {
                    self.cursor = c
                    return start()
                }
                retry(result)
            }
        case .websocket:
            conn.openWebSocket("/v1/notify", headers: [("Authorization", "Bearer \(token)")], handlers: .init(
                opened: { [self] refused in
                    if let r = refused { note(.success(r)) } else if !counted {
                        counted = true
                        context.results.withLock { $0.idleReady += 1 }
                    }
                },
                text: { _ in },
                ended: { [self] f in retry(.failure(f)) }))
        }
    }

    private func retry(_ result: Result<ClientConnection.Response, ClientConnection.Failure>) {
        if stopped { return }
        note(result)
        conn.loop.schedule(after: .milliseconds(500)) { [self] in start() }
    }

    private func note(_ result: Result<ClientConnection.Response, ClientConnection.Failure>) {
        let key: String
        switch result {
        case .success(let r): key = LoadTest.errorKey(r)
        case .failure(let f): key = "0 \(f)"
        }
        context.results.withLock { $0.idleErrors[key, default: 0] += 1 }
    }

    func stop() {
        stopped = true
        conn.close()
    }
}
