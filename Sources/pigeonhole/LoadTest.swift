import Dispatch
import Glibc
import JSON
import Synchronization
import SyncEngine

/// `pigeonhole loadtest`: provisions users through the admin API, then drives
/// concurrent senders (one keep-alive connection each) against a running server while
/// every receiving device runs a real long-poll sync loop (its own thread and
/// connection), then verifies delivery and reports send and delivery throughput and
/// latency.
///
/// Scenarios: `dm` (each sender in its own 2-member room), `group:N` (one N-member
/// room), `hot:N` (the same, meant for N above the server's --hot-threshold).
struct LoadTest {
    enum Scenario {
        case dm
        case group(Int)

        init?(_ text: String) {
            if text == "dm" { self = .dm; return }
            let parts = text.split(separator: ":")
            guard parts.count == 2, parts[0] == "group" || parts[0] == "hot", let n = Int(parts[1]), n >= 2 else { return nil }
            self = .group(n)
        }
    }

    let host: String
    let port: UInt16
    let adminToken: String
    let scenario: Scenario
    let scenarioName: String
    let senders: Int
    let devicesPerUser: Int
    let receivers: Int
    let duration: Double
    let json: Bool

    /// Runs `count` jobs on `threads` threads, each with its own connection to the server.
    func parallel(_ count: Int, threads: Int, _ job: @escaping @Sendable (Int, BlockingHTTPClient) throws -> Void) throws {
        let (host, port) = (self.host, self.port)
        let next = Atomic<Int>(0)
        let failure = Mutex<String?>(nil)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(threads, count)) {
            group.enter()
            Thread.detach {
                let client = BlockingHTTPClient(host: host, port: port)
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= count { break }
                    do { try job(i, client) } catch { failure.withLock { $0 = "\(error)" }; break }
                }
                group.leave()
            }
        }
        group.wait()
        if let f = failure.withLock({ $0 }) { throw UsageError("provisioning failed: \(f)") }
    }

    func expect(_ r: BlockingHTTPClient.Response, _ statuses: Set<Int>, _ what: String) throws -> JSONValue {
        guard statuses.contains(r.status), let j = r.json else {
            throw UsageError("\(what): HTTP \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }
        return j
    }

    func run() throws {
        var senders = self.senders
        if case .group(let n) = scenario, senders > n {
            log("only members can send: using \(n) senders instead of \(senders)")
            senders = n
        }
        let prefix = "lt\(SyncEngine.nowMillis() % 100_000_000)"
        let admin = adminToken
        let memberCount: Int
        let userCount: Int
        let receiverUsers: [Int]   // users whose devices sync and are verified
        switch scenario {
        case .dm:
            memberCount = 2
            userCount = senders * 2
            receiverUsers = Array(0..<userCount)
        case .group(let n):
            memberCount = n
            userCount = max(n, senders)
            receiverUsers = Array(0..<min(receivers, n))
        }
        let receiving = Set(receiverUsers)
        let perUser = devicesPerUser
        log("provisioning \(userCount) users")
        try parallel(userCount, threads: 16) { i, c in
            let r = try c.request("POST", "/v1/admin/users", token: admin, body: ["name": .string("\(prefix)-u\(i)")])
            guard r.status == 201 else { throw UsageError("create user: HTTP \(r.status)") }
        }
        // Receiving users get --devices-per-user devices; a sender sends from its user's first device.
        let needDevices = (0..<userCount).filter { receiving.contains($0) || $0 < senders }
        log("provisioning devices for \(needDevices.count) users (\(receiverUsers.count) x \(perUser) syncing)")
        let tokens = Mutex<[Int: [String]]>([:])
        try parallel(needDevices.count, threads: 16) { k, c in
            let i = needDevices[k]
            var mine: [String] = []
            for d in 0..<(receiving.contains(i) ? perUser : 1) {
                let r = try c.request("POST", "/v1/admin/users/\(prefix)-u\(i)/devices", token: admin, body: ["name": .string("loadtest-\(d)")])
                guard r.status == 201, let t = r.json?["token"]?.stringValue else { throw UsageError("create device: HTTP \(r.status)") }
                mine.append(t)
            }
            tokens.withLock { $0[i] = mine }
        }
        let userTokens = tokens.withLock { $0 }
        let senderTokens = (0..<senders).map { userTokens[$0]![0] }
        let client = BlockingHTTPClient(host: host, port: port)
        var rooms: [Int64] = []
        var roomOfUser: [Int: Int64] = [:]
        switch scenario {
        case .dm:
            for i in 0..<senders {
                let r = try client.request("POST", "/v1/direct/\(prefix)-u\(senders + i)", token: senderTokens[i])
                let room = try expect(r, [200, 201], "direct room")["id"]?.int64Value ?? 0
                rooms.append(room)
                roomOfUser[i] = room
                roomOfUser[senders + i] = room
            }
        case .group(let n):
            log("creating a \(n)-member room")
            let first = (1..<min(n, 1000)).map { JSONValue.string("\(prefix)-u\($0)") }
            let r = try client.request("POST", "/v1/rooms", token: senderTokens[0], body: ["name": "loadtest", "members": .array(first)])
            let room = try expect(r, [201], "create room")["id"]?.int64Value ?? 0
            var start = 1000
            while start < n {
                let chunk = (start..<min(n, start + 1000)).map { JSONValue.string("\(prefix)-u\($0)") }
                _ = try expect(try client.request("POST", "/v1/rooms/\(room)/members", token: senderTokens[0],
                                                  body: ["members": .array(chunk)]), [200], "add members")
                start += 1000
            }
            rooms = Array(repeating: room, count: senders)
            for i in 0..<n { roomOfUser[i] = room }
        }
        let hot = try expect(try client.request("GET", "/v1/rooms/\(rooms[0])", token: senderTokens[0]), [200], "room")

        // Every syncing device starts from the cursor of its first screen, taken before any send.
        struct SyncDevice: Sendable { let name: String; let token: String; let rooms: Set<Int64> }
        var syncDevices: [SyncDevice] = []
        for u in receiverUsers {
            for (d, t) in userTokens[u]!.enumerated() {
                syncDevices.append(SyncDevice(name: "\(prefix)-u\(u)/\(d)", token: t, rooms: [roomOfUser[u]!]))
            }
        }
        let devices = syncDevices
        log("taking first-screen cursors for \(devices.count) devices")
        let cursors = Mutex<[Int: String]>([:])
        try parallel(devices.count, threads: 16) { k, c in
            let r = try c.request("GET", "/v1/conversations?limit=1", token: devices[k].token)
            guard r.status == 200, let cur = r.json?["cursor"]?.stringValue else { throw UsageError("conversations: HTTP \(r.status)") }
            cursors.withLock { $0[k] = cur }
        }
        let startCursors = cursors.withLock { d in (0..<devices.count).map { d[$0]! } }

        // 0 while sending; then the monotonic millisecond after which devices give up draining.
        let drainDeadline = Atomic<Int>(0)
        let logs = Mutex<[Int: Delivery.DeviceLog]>([:])
        let syncErrors = Mutex<[Int: Int]>([:])
        let syncGroup = DispatchGroup()
        let (host, port) = (host, port)
        for k in devices.indices {
            syncGroup.enter()
            let dev = devices[k]
            let first = startCursors[k]
            Thread.detach {
                let c = BlockingHTTPClient(host: host, port: port)
                var cursor = first
                var got: [Delivery.Record] = []
                var complete = false
                var note: String? = nil
                while true {
                    let deadline = drainDeadline.load(ordering: .acquiring)
                    let draining = deadline != 0
                    if draining && Int(MonoTime.now() * 1000) > deadline { note = "gave up 30 s after sending ended"; break }
                    do {
                        let r = try c.request("GET", "/v1/sync?cursor=\(Self.percentEncoded(cursor))&timeout=\(draining ? 0 : 5)&limit=500",
                                              token: dev.token)
                        guard r.status == 200, let j = r.json, let next = j["cursor"]?.stringValue else {
                            syncErrors.withLock { $0[r.status, default: 0] += 1 }
                            if r.status == 410 || r.status == 401 { note = "sync answered HTTP \(r.status)"; break }
                            usleep(50_000)
                            continue
                        }
                        let now = MonoTime.now()
                        let events = j["events"]?.arrayValue ?? []
                        for e in events where e["type"]?.stringValue == "message" {
                            guard let m = e["message"], let room = m["room_id"]?.int64Value, let seq = m["seq"]?.int64Value,
                                  let id = m["id"]?.int64Value else { continue }
                            got.append(Delivery.Record(room: room, seq: seq, id: id, at: now))
                        }
                        cursor = next
                        if draining && events.isEmpty && !(j["has_more"]?.boolValue ?? false) { complete = true; break }
                    } catch {
                        syncErrors.withLock { $0[0, default: 0] += 1 }
                        usleep(50_000)
                    }
                }
                let entry = Delivery.DeviceLog(name: dev.name, rooms: dev.rooms, received: got, complete: complete, note: note)
                logs.withLock { $0[k] = entry }
                syncGroup.leave()
            }
        }

        log("sending for \(duration) s with \(senders) senders, \(devices.count) devices syncing")
        let latencies = Mutex<[Double]>([])
        let acks = Mutex<[Delivery.Record]>([])
        let errors = Mutex<[Int: Int]>([:])
        let begin = MonoTime.now()
        let deadline = begin + duration
        let group = DispatchGroup()
        for i in 0..<senders {
            group.enter()
            let token = senderTokens[i]
            let path = "/v1/rooms/\(rooms[i])/messages"
            Thread.detach {
                let c = BlockingHTTPClient(host: host, port: port)
                var mine: [Double] = []
                var sent: [Delivery.Record] = []
                var n = 0
                while MonoTime.now() < deadline {
                    n += 1
                    let t0 = MonoTime.now()
                    let r = try? c.request("POST", path, token: token,
                                           body: ["client_msg_id": .string("s\(i)-\(n)"), "body": ["n": .int(n)]])
                    let t1 = MonoTime.now()
                    let status = r?.status ?? 0
                    if status == 201, let j = r?.json, let room = j["room_id"]?.int64Value, let seq = j["seq"]?.int64Value,
                       let id = j["id"]?.int64Value {
                        mine.append((t1 - t0) * 1000)
                        sent.append(Delivery.Record(room: room, seq: seq, id: id, at: t1))
                    } else {
                        errors.withLock { $0[status, default: 0] += 1 }
                    }
                }
                latencies.withLock { $0.append(contentsOf: mine) }
                acks.withLock { $0.append(contentsOf: sent) }
                group.leave()
            }
        }
        group.wait()
        let sendEnd = MonoTime.now()
        let elapsed = sendEnd - begin
        drainDeadline.store(Int(sendEnd * 1000) + 30_000, ordering: .releasing)
        log("sending done; waiting for \(devices.count) devices to drain")
        syncGroup.wait()
        let deviceLogs = logs.withLock { d in (0..<devices.count).map { d[$0]! } }
        let sent = acks.withLock { $0 }

        // Delivery latency: 201 -> the sync response that carried it, per device.
        var ackAt: [Int64: [Int64: Double]] = [:]
        for s in sent { ackAt[s.room, default: [:]][s.seq] = s.at }
        var delivery: [Double] = []
        var delivered = 0
        var early = 0
        var lastReceive = begin
        for d in deviceLogs {
            delivered += d.received.count
            for r in d.received {
                lastReceive = max(lastReceive, r.at)
                guard let a = ackAt[r.room]?[r.seq] else { continue }
                if r.at < a { early += 1 }
                delivery.append(max(0, r.at - a) * 1000)
            }
        }
        delivery.sort()
        var expected = 0
        var ackedPerRoom: [Int64: Int] = [:]
        for s in sent { ackedPerRoom[s.room, default: 0] += 1 }
        for d in deviceLogs { for room in d.rooms { expected += ackedPerRoom[room] ?? 0 } }
        let violations = Delivery.verify(sent: sent, devices: deviceLogs)
        let incomplete = deviceLogs.filter { !$0.complete }.count
        let deliverySeconds = max(lastReceive - begin, 0.001)
        let deliveryRate = Double(delivered) / deliverySeconds

        var lat = latencies.withLock { $0 }
        lat.sort()
        func p(_ q: Double) -> Double { Delivery.quantile(lat, q) }
        func dp(_ q: Double) -> Double { Delivery.quantile(delivery, q) }
        let rate = Double(lat.count) / elapsed
        let isHot = hot["hot"]?.boolValue ?? (memberCount >= 500)
        let rows = isHot ? 0 : rate * Double(memberCount)
        let errs = errors.withLock { $0 }
        let serrs = syncErrors.withLock { $0 }
        func codes(_ e: [Int: Int]) -> String {
            "{" + e.sorted { $0.key < $1.key }.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",") + "}"
        }
        func quantiles(_ f: (Double) -> Double, _ max: Double) -> String {
            #"{"p50":\#(fmt(f(0.5))),"p90":\#(fmt(f(0.9))),"p99":\#(fmt(f(0.99))),"p99_9":\#(fmt(f(0.999))),"max":\#(fmt(max))}"#
        }
        func text(_ f: (Double) -> Double, _ max: Double) -> String {
            "p50 \(fmt(f(0.5))) p90 \(fmt(f(0.9))) p99 \(fmt(f(0.99))) p99.9 \(fmt(f(0.999))) max \(fmt(max))"
        }
        if json {
            print(#"{"scenario":"\#(scenarioName)","members":\#(memberCount),"hot":\#(isHot),"senders":\#(senders),"#
                + #""receiving_users":\#(receiverUsers.count),"devices_per_user":\#(perUser),"devices":\#(devices.count),"#
                + #""messages":\#(lat.count),"seconds":\#(fmt(elapsed)),"messages_per_s":\#(fmt(rate)),"inbox_rows_per_s":\#(fmt(rows)),"#
                + #""send_ms":\#(quantiles(p, lat.last ?? 0)),"#
                + #""delivered":\#(delivered),"expected_deliveries":\#(expected),"delivery_seconds":\#(fmt(deliverySeconds)),"#
                + #""deliveries_per_s":\#(fmt(deliveryRate)),"delivery_ms":\#(quantiles(dp, delivery.last ?? 0)),"#
                + #""received_before_201":\#(early),"incomplete_devices":\#(incomplete),"violations":\#(violations.count),"#
                + #""errors":\#(errs.values.reduce(0, +)),"errors_by_code":\#(codes(errs)),"sync_errors_by_code":\#(codes(serrs))}"#)
        } else {
            print("scenario \(scenarioName): \(memberCount)-member room(s), hot=\(isHot), \(senders) senders, "
                + "\(receiverUsers.count) users x \(perUser) devices syncing (\(devices.count) devices)")
            print("  sent \(lat.count) messages in \(fmt(elapsed)) s: \(fmt(rate)) messages/s, \(fmt(rows)) inbox rows/s")
            print("  send latency ms: \(text(p, lat.last ?? 0))")
            print("  delivered \(delivered) message events (expected \(expected)) in \(fmt(deliverySeconds)) s: \(fmt(deliveryRate)) deliveries/s")
            print("  delivery latency ms (201 -> device): \(text(dp, delivery.last ?? 0))"
                + (early > 0 ? " (\(early) received before their 201 arrived, counted as 0)" : ""))
            if !errs.isEmpty { print("  send errors by status: \(codes(errs))") }
            if !serrs.isEmpty { print("  sync errors by status (0 = connection): \(codes(serrs))") }
            if violations.isEmpty {
                print("  verified: every device received every acknowledged message of its rooms exactly once, in seq order")
            }
        }
        fflush(nil)
        if !violations.isEmpty {
            let lines = violations.prefix(20).map { "  " + $0 }.joined(separator: "\n")
            let more = violations.count > 20 ? "\n  ... and \(violations.count - 20) more" : ""
            log("verification FAILED: \(violations.count) violation(s)\n" + lines + more)
            throw LoadTestFailure(description: "loadtest: \(violations.count) delivery violation(s)")
        }
    }

    /// Percent-encodes everything but unreserved characters (for a cursor in a query).
    static func percentEncoded(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return String(r)
    }

    func log(_ s: String) {
        let bytes = Array(("loadtest: " + s + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
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
