import Dispatch
import Glibc
import HTTPClient
import JSON
import Sockets
import Synchronization

/// `pigeonhole loadtest`: provisions users, devices and rooms through the admin API,
/// then drives senders, syncing devices and idle waiters as non-blocking connections
/// on a few client event loops, and at the end verifies what every device received
/// (exactly once, in per-room seq order) and what the first screen says is unread.
/// With several `targets` (nodes over one database) setup goes to the first, and
/// devices, senders and idle clients are spread as `LoadPlan` says.
package struct LoadTest {
    let targets: [LoadTarget]
    let adminToken: String
    let plan: LoadPlan
    let scenarioName: String
    let devicesPerUser: Int
    let duration: Double
    /// Total sends per second across all senders (open loop), or nil for as fast as answered.
    let rate: Double?
    let transport: DeviceActor.Transport
    let idle: Int
    let readEvery: Int
    let clientThreads: Int
    /// Local server processes whose RSS and CPU are reported (summed).
    let serverPIDs: [Int32]
    let json: Bool

    package init(targets: [LoadTarget], adminToken: String, plan: LoadPlan, scenarioName: String, devicesPerUser: Int,
                 duration: Double, rate: Double?, transport: DeviceActor.Transport, idle: Int, readEvery: Int,
                 clientThreads: Int, serverPIDs: [Int32], json: Bool) {
        self.targets = targets
        self.adminToken = adminToken
        self.plan = plan
        self.scenarioName = scenarioName
        self.devicesPerUser = devicesPerUser
        self.duration = duration
        self.rate = rate
        self.transport = transport
        self.idle = idle
        self.readEvery = readEvery
        self.clientThreads = clientThreads
        self.serverPIDs = serverPIDs
        self.json = json
    }

    /// Runs `count` provisioning jobs on `threads` threads, each with its own blocking
    /// connection per node; job `i` talks to node `node(i)` (default: the first).
    func parallel(_ count: Int, threads: Int = 16, node: @escaping @Sendable (Int) -> Int = { _ in 0 },
                  _ job: @escaping @Sendable (Int, BlockingHTTPClient) throws -> Void) throws {
        let targets = self.targets
        let next = Atomic<Int>(0)
        let failure = Mutex<String?>(nil)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(threads, count)) {
            group.enter()
            Thread.detach {
                var clients: [Int: BlockingHTTPClient] = [:]
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= count { break }
                    let n = node(i)
                    let client = clients[n] ?? BlockingHTTPClient(host: targets[n].host, port: targets[n].port)
                    clients[n] = client
                    do { try job(i, client) } catch { failure.withLock { $0 = "\(error)" }; break }
                }
                group.leave()
            }
        }
        group.wait()
        if let f = failure.withLock({ $0 }) { throw LoadTestFailure(description: "provisioning failed: \(f)") }
    }

    /// Provisioning through the device API meets the per-device room and member limits
    /// (`429` with `retry_after_ms`): wait them out, as a client should.
    static func patiently(_ send: () throws -> BlockingHTTPClient.Response) throws -> BlockingHTTPClient.Response {
        while true {
            let r = try send()
            guard r.status == 429 else { return r }
            let ms = r.json?["error"]?["retry_after_ms"]?.int64Value ?? 1000
            usleep(UInt32(min(max(ms, 10), 10_000)) * 1000)
        }
    }

    static func expect(_ r: BlockingHTTPClient.Response, _ statuses: Set<Int>, _ what: String) throws -> JSONValue {
        guard statuses.contains(r.status), let j = r.json else {
            throw LoadTestFailure(description: "\(what): HTTP \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }
        return j
    }

    /// `429 rate_limited`: the status and the error code of a response, for counting.
    static func errorKey(_ r: ClientConnection.Response) -> String {
        let code = (try? JSONParser.parse(r.body))?["error"]?["code"]?.stringValue
        return "\(r.status)" + (code.map { " " + $0 } ?? "")
    }

    /// Each node once, however many times it was named (one address and port, one process).
    var distinctTargets: [LoadTarget] {
        var seen: Set<String> = []
        return targets.filter { seen.insert("\($0.host):\($0.port)").inserted }
    }

    package func run() throws {
        for t in distinctTargets { try t.checkHealth() }
        let prefix = "lt\(WallClock.millis() % 100_000_000)"
        let admin = adminToken
        let plan = self.plan
        let receiving = Set(plan.receivers)
        // Who may send: every user in dm/mixed; members 0..<senders in a group.
        let sending: Set<Int>
        switch plan.scenario {
        case .dm, .mixed: sending = Set(0..<plan.userCount)
        case .group(let n), .hot(let n): sending = Set(0..<min(n, plan.senders))
        }
        let names = (0..<plan.userCount).map { "\(prefix)-u\($0)" }

        log("provisioning \(plan.userCount) users")
        try parallel(plan.userCount) { i, c in
            _ = try Self.expect(try c.request("POST", "/v1/admin/users", token: admin, body: ["name": .string(names[i])]), [201], "create user")
        }
        let needDevices = (0..<plan.userCount).filter { receiving.contains($0) || sending.contains($0) }
        let perUser = devicesPerUser
        log("provisioning devices for \(needDevices.count) users (\(plan.receivers.count) x \(perUser) syncing)")
        let tokenTable = Mutex<[Int: [String]]>([:])
        try parallel(needDevices.count) { k, c in
            let u = needDevices[k]
            var mine: [String] = []
            for d in 0..<(receiving.contains(u) ? perUser : 1) {
                let r = try c.request("POST", "/v1/admin/users/\(names[u])/devices", token: admin, body: ["name": .string("loadtest-\(d)")])
                guard let t = try Self.expect(r, [201], "create device")["token"]?.stringValue else { throw LoadTestFailure(description: "device without token") }
                mine.append(t)
            }
            tokenTable.withLock { $0[u] = mine }
        }
        let userTokens = tokenTable.withLock { $0 }
        let sendTokens = (0..<plan.userCount).map { userTokens[$0]?.first ?? "" }

        log("creating \(plan.rooms.count) room(s)")
        let roomTable = Mutex<[Int: (id: Int64, hot: Bool)]>([:])
        try parallel(plan.rooms.count) { r, c in
            let members = plan.rooms[r]
            let owner = sendTokens[members[0]]
            let id: Int64
            if plan.kinds[r] == .direct {
                id = try Self.expect(try Self.patiently { try c.request("POST", "/v1/direct/\(names[members[1]])", token: owner) }, [200, 201], "direct room")["id"]?.int64Value ?? 0
            } else {
                let first = members.dropFirst().prefix(999).map { JSONValue.string(names[$0]) }
                id = try Self.expect(try Self.patiently { try c.request("POST", "/v1/rooms", token: owner, body: ["name": "loadtest", "members": .array(first)]) },
                                     [201], "create room")["id"]?.int64Value ?? 0
                var start = 1000
                while start < members.count {
                    let chunk = members[start..<min(members.count, start + 1000)].map { JSONValue.string(names[$0]) }
                    _ = try Self.expect(try Self.patiently { try c.request("POST", "/v1/rooms/\(id)/members", token: owner, body: ["members": .array(chunk)]) },
                                        [200], "add members")
                    start += 1000
                }
            }
            let hot = try Self.expect(try c.request("GET", "/v1/rooms/\(id)", token: owner), [200], "room")["hot"]?.boolValue ?? false
            roomTable.withLock { $0[r] = (id, hot) }
        }
        let roomInfo = roomTable.withLock { t in (0..<plan.rooms.count).map { t[$0]! } }
        let roomIDs = roomInfo.map(\.id)

        // Every syncing device starts from the cursor of its first screen, taken before any send.
        struct DeviceSpec: Sendable { let name: String; let user: Int; let token: String; let rooms: Set<Int64>; let node: Int }
        var specs: [DeviceSpec] = []
        for u in plan.receivers {
            for (d, t) in userTokens[u]!.enumerated() {
                specs.append(DeviceSpec(name: "\(names[u])/\(d)", user: u, token: t, rooms: Set(plan.userRooms[u].map { roomIDs[$0] }),
                                        node: plan.deviceNode(user: u, device: d)))
            }
        }
        let devices = specs
        log("taking first-screen cursors for \(devices.count) devices")
        let cursorTable = Mutex<[Int: String]>([:])
        try parallel(devices.count, node: { devices[$0].node }) { k, c in
            let cur = try Self.expect(try c.request("GET", "/v1/conversations?limit=1&preview=0", token: devices[k].token), [200], "conversations")["cursor"]?.stringValue
            cursorTable.withLock { $0[k] = cur ?? "" }
        }
        let startCursors = cursorTable.withLock { t in (0..<devices.count).map { t[$0]! } }

        var idleTokens: [String] = []
        if idle > 0 {
            log("provisioning \(idle) idle users with a device each")
            let idleTable = Mutex<[Int: String]>([:])
            try parallel(idle) { k, c in
                _ = try Self.expect(try c.request("POST", "/v1/admin/users", token: admin, body: ["name": .string("\(prefix)-idle\(k)")]),
                                    [201], "create idle user")
                let t = try Self.expect(try c.request("POST", "/v1/admin/users/\(prefix)-idle\(k)/devices", token: admin,
                                                      body: ["name": "idle"]), [201], "create idle device")["token"]?.stringValue
                idleTable.withLock { $0[k] = t ?? "" }
            }
            idleTokens = idleTable.withLock { t in (0..<idle).map { t[$0]! } }
        }

        // Senders get a loop of their own, so their timing is not skewed by devices
        // busy reading a fan-out; devices and idle clients share the others.
        let group = try EventLoopGroup(threads: clientThreads + 1)
        defer { group.shutdown() }
        let senderLoop = group.loops[0]
        let loops = Array(group.loops.dropFirst())
        let context = LoadContext()
        let server = serverPIDs.isEmpty ? nil : serverPIDs.map(ServerProcess.init)
        let rssBeforeIdle = server?.rssBytes()

        var idlers: [IdleActor] = []
        var rssWithIdle: Int? = nil
        if idle > 0 {
            log("opening \(idle) idle \(transport == .longpoll ? "long-polls" : "WebSockets")")
            for (k, t) in idleTokens.enumerated() {
                let a = IdleActor(token: t, transport: transport, context: context, target: targets[plan.idleNode(k)],
                                  loop: loops[k % loops.count])
                idlers.append(a)
                a.loop.execute { a.start() }
            }
            let waitedFor = try waitForIdle(context: context)
            log("\(waitedFor) idle clients waiting")
            rssWithIdle = server?.rssBytes()
        }

        log("starting \(devices.count) syncing devices (\(transport.rawValue))")
        let devicesDone = DispatchGroup()
        var actors: [DeviceActor] = []
        for (k, d) in devices.enumerated() {
            devicesDone.enter()
            let a = DeviceActor(index: k, name: d.name, user: d.user, token: d.token, rooms: d.rooms, cursor: startCursors[k],
                                transport: transport, readEvery: readEvery, context: context, target: targets[d.node],
                                loop: loops[k % loops.count]) {
                devicesDone.leave()
            }
            actors.append(a)
            a.http.loop.execute { a.start() }
        }
        // Sending starts once every device has caught up (its backlog of room-creation
        // events pulled) and parked again, so the first messages meet a quiet server.
        let settleBy = MonoTime.now() + 60
        while context.settled.load(ordering: .relaxed) < devices.count && MonoTime.now() < settleBy { usleep(20_000) }
        usleep(200_000)

        log("sending for \(duration) s with \(plan.senders) senders" + (rate.map { " at \(fmt($0))/s" } ?? ""))
        let cpuBefore = server?.cpuSeconds()
        let begin = MonoTime.now() + 0.01
        let end = begin + duration
        let sendersDone = DispatchGroup()
        for slot in 0..<plan.senders {
            sendersDone.enter()
            let a = SendActor(slot: slot, plan: plan, roomIDs: roomIDs, tokens: sendTokens, context: context,
                              target: targets[plan.senderNode(slot: slot)], loop: senderLoop,
                              interval: rate.map { Double(plan.senders) / $0 }, start: begin, end: end) { sendersDone.leave() }
            a.conn.loop.execute { a.next() }
        }
        sendersDone.wait()
        let sendEnd = MonoTime.now()
        let cpuAfter = server?.cpuSeconds()
        context.drainDeadlineMillis.store(Int(sendEnd * 1000) + 30_000, ordering: .releasing)
        log("sending done; \(devices.count) devices draining")
        for a in actors { a.http.loop.execute { a.beginDrain() } }
        if devicesDone.wait(timeout: .now() + .seconds(45)) == .timedOut {
            for a in actors { a.http.loop.execute { a.finish(note: "still draining 45 s after sending ended") } }
            devicesDone.wait()
        }
        for a in idlers { a.loop.execute { a.stop() } }
        let rssEnd = server?.rssBytes()
        let results = context.results.withLock { $0 }

        // Each user's first screen is read where its first device synced.
        log("checking the first screen of \(plan.receivers.count) users")
        let screens = Mutex<[Int: [Delivery.ConversationRow]]>([:])
        let screenErrors = Mutex<[String]>([])
        try parallel(plan.receivers.count, node: { plan.deviceNode(user: plan.receivers[$0], device: 0) }) { k, c in
            let u = plan.receivers[k]
            var rows: [Delivery.ConversationRow] = []
            var page: String? = nil
            repeat {
                let path = "/v1/conversations?limit=100&preview=0" + (page.map { "&page=\(Self.percentEncoded($0))" } ?? "")
                let r = try c.request("GET", path, token: userTokens[u]![0])
                guard r.status == 200, let j = r.json else { screenErrors.withLock { $0.append("user \(names[u]): HTTP \(r.status)") }; return }
                for c in j["conversations"]?.arrayValue ?? [] {
                    guard let room = c["id"]?.int64Value, let unread = c["unread"]?.int64Value,
                          let read = c["read_seq"]?.int64Value, let last = c["last_seq"]?.int64Value else { continue }
                    rows.append(Delivery.ConversationRow(room: room, unread: unread, readSeq: read, lastSeq: last))
                }
                page = j["next_page"]?.stringValue
            } while page != nil
            screens.withLock { $0[u] = rows }
        }

        var violations = Delivery.verify(sent: results.acked, devices: (0..<devices.count).map { results.devices[$0]! })
        violations += screenErrors.withLock { $0 }
        let exact = results.sendErrors.isEmpty && !results.syncErrors.keys.contains { $0.hasPrefix("read") }
        let screenTable = screens.withLock { $0 }
        for u in plan.receivers {
            violations += Delivery.verifyUnread(
                user: names[u], rows: screenTable[u] ?? [], rooms: plan.userRooms[u].map { roomIDs[$0] },
                acked: results.acked, ownSends: results.ownSends.compactMapValues { $0[u] },
                readMarks: results.readMarks.compactMapValues { $0[u] }, exact: exact)
        }

        let nodes = targets.indices.map { n in
            LoadReport.Node(url: targets[n].url, devices: devices.filter { $0.node == n }.count,
                            senders: (0..<plan.senders).filter { plan.senderNode(slot: $0) == n }.count,
                            idle: (0..<idle).filter { plan.idleNode($0) == n }.count)
        }
        let report = LoadReport(
            test: self, roomInfo: roomInfo, results: results, deviceCount: devices.count, nodes: nodes, begin: begin,
            sendEnd: sendEnd, violations: violations, exactUnread: exact,
            server: server.map { _ in LoadReport.ServerFigures(
                pids: serverPIDs, rssBeforeIdle: rssBeforeIdle ?? 0, rssWithIdle: rssWithIdle, rssEnd: rssEnd ?? 0,
                cpuSeconds: (cpuAfter ?? 0) - (cpuBefore ?? 0)) })
        print(json ? report.json().serializedString : report.text())
        fflush(nil)
        if !violations.isEmpty {
            let lines = violations.prefix(20).map { "  " + $0 }.joined(separator: "\n")
            let more = violations.count > 20 ? "\n  ... and \(violations.count - 20) more" : ""
            log("verification FAILED: \(violations.count) violation(s)\n" + lines + more)
            throw LoadTestFailure(description: "loadtest: \(violations.count) violation(s)")
        }
    }

    /// Waits (at most 60 s) until the idle clients are all waiting: parked long-polls
    /// counted by the servers' own gauges (summed over the nodes), WebSockets by their
    /// handshakes.
    private func waitForIdle(context: LoadContext) throws -> Int {
        let admins = distinctTargets.map { BlockingHTTPClient(host: $0.host, port: $0.port) }
        let deadline = MonoTime.now() + 60
        var waiting = 0
        while MonoTime.now() < deadline {
            if transport == .websocket {
                waiting = context.results.withLock { $0.idleReady }
            } else {
                waiting = admins.reduce(0) { $0 + Self.parkedLongPolls(admin: $1, token: adminToken) }
            }
            if waiting >= idle { break }
            usleep(200_000)
        }
        usleep(500_000)   // let the server settle before RSS is read
        return waiting
    }

    /// The node's `pigeonhole_long_polls_parked` gauge (0 when unreadable).
    private static func parkedLongPolls(admin: BlockingHTTPClient, token: String) -> Int {
        guard let r = try? admin.request("GET", "/metrics", token: token), r.status == 200 else { return 0 }
        let text = String(decoding: r.body, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("pigeonhole_long_polls_parked ") {
            return Int(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    /// Percent-encodes everything but unreserved characters (for a cursor in a query).
    static func percentEncoded(_ s: String) -> String {
        var out = ""
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    func log(_ s: String) {
        let bytes = Array(("loadtest: " + s + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

func fmt(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    return String(r)
}

extension IdleActor {
    var loop: EventLoop { conn.loop }
}

/// The server's RSS and CPU time, from /proc (for --server-pid).
package struct ServerProcess {
    let pid: Int32

    package init(_ pid: Int32) { self.pid = pid }

    private func read(_ file: String) -> String? {
        guard let f = fopen("/proc/\(pid)/\(file)", "r") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    package func rssBytes() -> Int? {
        guard let status = read("status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// utime + stime (fields 14 and 15 of /proc/PID/stat, after the parenthesised name).
    func cpuSeconds() -> Double? {
        guard let stat = read("stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// Several server processes (`--server-pid` repeated): their figures summed.
extension [ServerProcess] {
    func rssBytes() -> Int? {
        let each = compactMap { $0.rssBytes() }
        return each.isEmpty ? nil : each.reduce(0, +)
    }

    func cpuSeconds() -> Double? {
        let each = compactMap { $0.cpuSeconds() }
        return each.isEmpty ? nil : each.reduce(0, +)
    }
}

/// Wall-clock milliseconds since the epoch (CLOCK_REALTIME): a run's names are unique by it.
enum WallClock {
    static func millis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

enum MonoTime {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A detached pthread for a closure (Foundation's Thread is not imported here).
enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Box: Sendable {
            let body: @Sendable () -> Void
            init(_ b: @escaping @Sendable () -> Void) { body = b }
        }
        var tid = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&tid, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed")
        pthread_detach(tid)
    }
}
