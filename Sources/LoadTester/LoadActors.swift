import Glibc
import HTTPClient
import JSON
import Sockets
import Synchronization

/// What every load-test actor shares: when sending ends, and where finished actors
/// leave their results. (Each actor is given the node it talks to.)
final class LoadContext: Sendable {
    /// 0 while sending; then the MonoTime millisecond after which draining devices give up.
    let drainDeadlineMillis = Atomic<Int>(0)
    let results = Mutex<LoadResults>(LoadResults())
    /// Devices that have caught up once (their next long-poll parks): sending waits for all.
    let settled = Atomic<Int>(0)

    var draining: Bool { drainDeadlineMillis.load(ordering: .acquiring) != 0 }
}

/// Everything the actors hand back.
struct LoadResults: Sendable {
    var sendLatencies: [Double] = []
    var acked: [Delivery.Record] = []
    /// room id -> seq -> when its send request started (MonoTime seconds).
    var sendStarts: [Int64: [Int64: Double]] = [:]
    /// (room id, user index) -> highest seq that user sent and got a 201 for.
    var ownSends: [Int64: [Int: Int64]] = [:]
    var sendErrors: [String: Int] = [:]
    var devices: [Int: Delivery.DeviceLog] = [:]
    /// (room id, user index) -> highest read marker a device of that user set.
    var readMarks: [Int64: [Int: Int64]] = [:]
    var syncErrors: [String: Int] = [:]
    var idleReady = 0
    var idleErrors: [String: Int] = [:]
}

/// One sender slot: a keep-alive connection that sends one message at a time (closed
/// loop), or on a schedule of `interval` seconds (open loop: latency then counts from
/// the scheduled start, so a slow server cannot hide its queueing).
final class SendActor: @unchecked Sendable {   // confined to `loop`
    let slot: Int
    let plan: LoadPlan
    let roomIDs: [Int64]
    let tokens: [String]   // a sending device token per user index
    let context: LoadContext
    let interval: Double?
    let start: Double
    let end: Double
    let conn: ClientConnection
    private var n = 0
    private var latencies: [Double] = []
    private var acked: [Delivery.Record] = []
    private var starts: [(room: Int64, seq: Int64, at: Double)] = []
    private var own: [Int64: [Int: Int64]] = [:]
    private var errors: [String: Int] = [:]
    private let done: @Sendable () -> Void

    init(slot: Int, plan: LoadPlan, roomIDs: [Int64], tokens: [String], context: LoadContext, target: LoadTarget,
         loop: EventLoop, interval: Double?, start: Double, end: Double, done: @escaping @Sendable () -> Void) {
        self.slot = slot
        self.plan = plan
        self.roomIDs = roomIDs
        self.tokens = tokens
        self.context = context
        self.interval = interval
        self.start = start
        self.end = end
        self.done = done
        conn = ClientConnection(loop: loop, host: target.host, port: target.port)
    }

    func next() {
        var intended = MonoTime.now()
        if let interval {
            // Slots are staggered across one interval so the aggregate rate is smooth.
            intended = start + interval * (Double(n) + Double(slot) / Double(plan.senders))
            let wait = intended - MonoTime.now()
            if intended >= end { return finish() }
            if wait > 0.0005 {
                conn.loop.schedule(after: .microseconds(Int64(wait * 1e6))) { [self] in send(intended: intended) }
                return
            }
        } else if intended >= end {
            return finish()
        }
        send(intended: intended)
    }

    private func send(intended: Double) {
        n += 1
        let (r, user) = plan.pick(slot: slot, n: n)
        let room = roomIDs[r]
        let body: JSONValue = ["client_msg_id": .string("s\(slot)-\(n)"), "body": ["n": .int(n), "slot": .int(slot)]]
        let started = MonoTime.now()
        let t0 = interval == nil ? started : intended
        conn.request("POST", "/v1/rooms/\(room)/messages",
                     headers: [("Authorization", "Bearer \(tokens[user])"), ("Content-Type", "application/json")],
                     body: body.serialized(), timeout: .seconds(30)) { [self] result in
            let t1 = MonoTime.now()
            switch result {
            case .success(let r) where r.status == 201:
                if let j = try? JSONParser.parse(r.body), let seq = j["seq"]?.int64Value, let id = j["id"]?.int64Value {
                    latencies.append((t1 - t0) * 1000)
                    acked.append(Delivery.Record(room: room, seq: seq, id: id, at: t1))
                    starts.append((room, seq, started))
                    own[room, default: [:]][user] = max(own[room]?[user] ?? 0, seq)
                } else {
                    errors["201 unreadable", default: 0] += 1
                }
            case .success(let r):
                errors[LoadTest.errorKey(r), default: 0] += 1
            case .failure(let f):
                errors["0 \(f)", default: 0] += 1
            }
            next()
        }
    }

    private func finish() {
        context.results.withLock { res in
            res.sendLatencies.append(contentsOf: latencies)
            res.acked.append(contentsOf: acked)
            for s in starts { res.sendStarts[s.room, default: [:]][s.seq] = s.at }
            for (room, users) in own { for (u, s) in users { res.ownSends[room, default: [:]][u] = max(res.ownSends[room]?[u] ?? 0, s) } }
            for (k, v) in errors { res.sendErrors[k, default: 0] += v }
        }
        conn.close()
        done()
    }
}

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
    let target: LoadTarget
    let http: ClientConnection
    private var notify: ClientConnection?
    private var cursor: String
    private var received: [Delivery.Record] = []
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
         readEvery: Int, context: LoadContext, target: LoadTarget, loop: EventLoop, done: @escaping @Sendable () -> Void) {
        self.index = index
        self.name = name
        self.user = user
        self.token = token
        self.rooms = rooms
        self.cursor = cursor
        self.transport = transport
        self.readEvery = readEvery
        self.context = context
        self.target = target
        self.done = done
        http = ClientConnection(loop: loop, host: target.host, port: target.port)
    }

    var auth: (String, String) { ("Authorization", "Bearer \(token)") }

    func start() {
        switch transport {
        case .longpoll: pull()
        case .websocket: openNotify()
        }
    }

    private func openNotify() {
        let ws = ClientConnection(loop: http.loop, host: target.host, port: target.port)
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
            guard case .success(let r) = result, r.status == 200, let page = SyncPageScanner.scan(r.body),
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
        http.request("POST", "/v1/rooms/\(room)/read", headers: [auth, ("Content-Type", "application/json")],
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
        let log = Delivery.DeviceLog(name: name, rooms: rooms, received: received, complete: note == nil, note: note)
        let (marks, errs, user) = (readMarks, errors, user)
        context.results.withLock { res in
            res.devices[index] = log
            for (room, s) in marks { res.readMarks[room, default: [:]][user] = max(res.readMarks[room]?[user] ?? 0, s) }
            for (k, v) in errs { res.syncErrors[k, default: 0] += v }
        }
        notify?.close()
        http.close()
        done()
    }
}

/// An extra connection that only waits: a parked long-poll (re-issued when it times
/// out) or an open /v1/notify WebSocket. The cost the server pays per waiting client.
final class IdleActor: @unchecked Sendable {   // confined to `loop`
    let token: String
    let transport: DeviceActor.Transport
    let context: LoadContext
    let conn: ClientConnection
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
