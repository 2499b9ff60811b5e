import HTTPClient
import JSON
import Sockets

/// One sender slot: sends one message at a time (closed loop), or on a schedule of
/// `interval` seconds (open loop: latency then counts from the scheduled start, so a slow
/// server cannot hide its queueing), over a keep-alive connection to the node of each
/// send (`LoadPlan.sendNode`; one connection per node it used). With `changes` P (the
/// `--changes` mode) an operation is, with probability P, a change instead of a send
/// (`SendActor+Changes`).
final class SendActor: @unchecked Sendable {   // confined to `loop`
    let slot: Int
    let plan: LoadPlan
    let roomIDs: [Int64]
    let tokens: [String]   // a sending device token per user index
    let context: LoadContext
    let interval: Double?
    let start: Double
    let end: Double
    /// The `--changes` fraction, and what the senders share for it (nil when 0).
    let changes: Double
    let board: ChangeBoard?
    let loop: EventLoop
    private let conns: NodeConnections
    /// Requests (sends and changes) made to each node.
    private var perNode: [Int]
    var n = 0
    private var latencies: [Double] = []
    private var acked: [Delivery.Record] = []
    private var starts: [(room: Int64, seq: Int64, at: Double)] = []
    private var own: [Int64: [Int: Int64]] = [:]
    private var errors: [String: Int] = [:]
    private let done: @Sendable () -> Void

    init(slot: Int, plan: LoadPlan, roomIDs: [Int64], tokens: [String], context: LoadContext, targets: [LoadTarget],
         loop: EventLoop, interval: Double?, start: Double, end: Double, changes: Double = 0, board: ChangeBoard? = nil,
         done: @escaping @Sendable () -> Void) {
        self.slot = slot
        self.plan = plan
        self.roomIDs = roomIDs
        self.tokens = tokens
        self.context = context
        self.interval = interval
        self.start = start
        self.end = end
        self.changes = changes
        self.board = board
        self.done = done
        self.loop = loop
        conns = NodeConnections(targets: targets, loop: loop)
        perNode = Array(repeating: 0, count: targets.count)
    }

    /// The connection to the node of `room`'s requests, opened on first use.
    func connection(room: Int64) -> ClientConnection {
        let node = plan.sendNode(slot: slot, room: room)
        perNode[node] += 1
        return conns.to(node)
    }

    func next() {
        var intended = MonoTime.now()
        if let interval {
            // Slots are staggered across one interval so the aggregate rate is smooth.
            intended = start + interval * (Double(n) + Double(slot) / Double(plan.senders))
            let wait = intended - MonoTime.now()
            if intended >= end { return finish() }
            if wait > 0.0005 {
                loop.schedule(after: .microseconds(Int64(wait * 1e6))) { [self] in send(intended: intended) }
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
        if let op = chooseChange(room: room, user: user) { return change(op) }
        let body: JSONValue = ["client_msg_id": .string("s\(slot)-\(n)"), "body": ["n": .int(n), "slot": .int(slot)]]
        let started = MonoTime.now()
        let t0 = interval == nil ? started : intended
        connection(room: room).request("POST", "/v1/rooms/\(room)/messages",
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
                    board?.sent(room: room, seq: seq, user: user)
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
            if res.requestsPerNode.count < perNode.count { res.requestsPerNode = Array(repeating: 0, count: perNode.count) }
            for (k, v) in perNode.enumerated() { res.requestsPerNode[k] += v }
        }
        conns.closeAll()
        done()
    }
}
