import HTTPClient
import JSON
import Sockets

/// One syncing device: pulls with its cursor and keeps what it received; now and then
/// marks a room read. Woken by a parked long-poll, or by `mail` on a /v1/notify
/// WebSocket (then every pull is immediate).
package final class DeviceActor: @unchecked Sendable {   // confined to `loop`
    package enum Transport: String, Sendable { case longpoll, websocket }

    let index: Int
    let name: String
    let user: Int
    let token: String
    let rooms: Set<Int64>
    let transport: Transport
    let readEvery: Int
    let context: LoadContext
    /// This device's node: its pulls and socket go there; a read marker goes to its
    /// room's node (`LoadPlan.roomNode`), through `conns`.
    let node: Int
    let plan: LoadPlan
    private let conns: NodeConnections
    let http: ClientConnection
    private var notify: ClientConnection?
    private var cursor: String
    private var received: [Delivery.Record] = []
    private var states: Convergence.DeviceStates?   // the `--changes` mode only
    private var readMarks: [Int64: Int64] = [:]
    private var errors: [String: Int] = [:]
    private var pulling = false
    private var parked = false   // the request in flight is a long-poll that may wait
    private var pullAgain = false
    private var pullsWithMessages = 0
    private var drainPullStarted = false
    private var finished = false
    private var caughtUp = false
    private let done: @Sendable () -> Void

    init(index: Int, name: String, user: Int, token: String, rooms: Set<Int64>, cursor: String, transport: Transport,
         readEvery: Int, context: LoadContext, plan: LoadPlan, targets: [LoadTarget], node: Int, loop: EventLoop,
         done: @escaping @Sendable () -> Void) {
        self.index = index
        self.name = name
        self.user = user
        self.token = token
        self.rooms = rooms
        self.cursor = cursor
        self.transport = transport
        self.readEvery = readEvery
        self.context = context
        self.node = node
        self.plan = plan
        self.done = done
        conns = NodeConnections(targets: targets, loop: loop)
        http = conns.to(node)
        if context.trackStates { states = Convergence.DeviceStates(name: name, user: user) }
    }

    var auth: (String, String) { ("Authorization", "Bearer \(token)") }

    func start() {
        switch transport {
        case .longpoll: pull()
        case .websocket: openNotify()
        }
    }

    private func openNotify() {
        let ws = ClientConnection(loop: http.loop, host: conns.targets[node].host, port: conns.targets[node].port)
        notify = ws
        ws.openWebSocket("/v1/notify", headers: [auth], handlers: .init(
            opened: { [self] refused in
                if let r = refused {
                    errors[LoadTest.errorKey(r), default: 0] += 1
                    retryNotify()
                }
            },
            text: { [self] _ in pullNow() },   // `ready` and `mail` alike: pull (receipts frames too: harmless)
            ended: { [self] f in
                if finished { return }
                errors["notify \(f)", default: 0] += 1
                retryNotify()
            }))
    }

    private func retryNotify() {
        if finished { return }
        http.loop.schedule(after: .milliseconds(100)) { [self] in
            openNotify()
            pullNow()   // whatever arrived while the socket was down
        }
    }

    private func pullNow() {
        if pulling { pullAgain = true } else { pull() }
    }

    /// Sending has ended: from here a pull that finds nothing new means done.
    func beginDrain() {
        if finished { return }
        if parked {
            http.close()   // abandon the parked poll; its failure pulls again, immediately
        } else if !pulling {
            pull()
        }
    }

    private func pull() {
        if finished { return }
        let deadline = context.drainDeadlineMillis.load(ordering: .acquiring)
        let draining = deadline != 0
        if draining && Int(MonoTime.now() * 1000) > deadline { return finish(note: "gave up 30 s after sending ended") }
        pulling = true
        pullAgain = false
        if draining { drainPullStarted = true }
        let wait = transport == .longpoll && !draining ? 5 : 0
        parked = wait > 0
        http.request("GET", "/v1/sync?cursor=\(LoadTest.percentEncoded(cursor))&timeout=\(wait)&limit=500",
                     headers: [auth], timeout: .seconds(30)) { [self] result in
            pulling = false
            parked = false
            let now = MonoTime.now()
            guard case .success(let r) = result, r.status == 200, let page = SyncPageScanner.scan(r.body, keepStates: states != nil),
                  let next = page.cursor else {
                switch result {
                case .success(let r) where r.status == 200:
                    errors["200 unreadable sync page", default: 0] += 1
                case .success(let r):
                    errors[LoadTest.errorKey(r), default: 0] += 1
                    if r.status == 410 || r.status == 401 { return finish(note: "sync answered HTTP \(r.status)") }
                case .failure(.closed) where context.draining: break   // our own beginDrain
                case .failure(let f): errors["0 \(f)", default: 0] += 1
                }
                // Still "pulling" until the retry: a drain starting meanwhile must not
                // start a second request on this connection.
                pulling = true
                http.loop.schedule(after: .milliseconds(20)) { [self] in pull() }
                return
            }
            var newest: (room: Int64, seq: Int64)? = nil
            for m in page.messages {
                received.append(Delivery.Record(room: m.room, seq: m.seq, id: m.id, at: now))
                newest = (m.room, m.seq)
            }
            for c in page.copies { states?.apply(c, rooms: rooms) }
            let eventsEmpty = page.eventCount == 0
            cursor = next
            let hasMore = page.hasMore
            if !hasMore && !caughtUp {
                caughtUp = true
                context.settled.wrappingAdd(1, ordering: .relaxed)
            }
            if drainPullStarted && eventsEmpty && !hasMore && !pullAgain { return finish(note: nil) }
            if let newest, readEvery > 0 {
                pullsWithMessages += 1
                if pullsWithMessages % readEvery == 0 { return markRead(newest.room, newest.seq) }
            }
            continueAfterPull(hasMore: hasMore)
        }
    }

    private func continueAfterPull(hasMore: Bool) {
        if transport == .longpoll || hasMore || pullAgain || drainPullStarted || context.draining { pull() }
    }

    private func markRead(_ room: Int64, _ seq: Int64) {
        pulling = true
        conns.to(plan.roomNode(room, otherwise: node)).request("POST", "/v1/rooms/\(room)/read", headers: [auth, ("Content-Type", "application/json")],
                     body: (["seq": .int(seq)] as JSONValue).serialized(), timeout: .seconds(30)) { [self] result in
            pulling = false
            switch result {
            case .success(let r) where r.status == 200:
                if let s = (try? JSONParser.parse(r.body))?["read_seq"]?.int64Value { readMarks[room] = max(readMarks[room] ?? 0, s) }
            case .success(let r): errors["read " + LoadTest.errorKey(r), default: 0] += 1
            case .failure(let f): errors["read 0 \(f)", default: 0] += 1
            }
            continueAfterPull(hasMore: true)
        }
    }

    /// Ends the device (also used when the run gives up on it: `note` says why).
    func finish(note: String?) {
        if finished { return }
        finished = true
        let log = Delivery.DeviceLog(name: name, rooms: rooms, received: received, complete: note == nil, note: note,
                                      states: states)
        let (marks, errs, user) = (readMarks, errors, user)
        context.results.withLock { res in
            res.devices[index] = log
            for (room, s) in marks { res.readMarks[room, default: [:]][user] = max(res.readMarks[room]?[user] ?? 0, s) }
            for (k, v) in errs { res.syncErrors[k, default: 0] += v }
        }
        notify?.close()
        conns.closeAll()   // `http` among them
        done()
    }
}
