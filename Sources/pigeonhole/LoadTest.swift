import Dispatch
import Glibc
import JSON
import Synchronization
import SyncEngine

/// `pigeonhole loadtest`: provisions users through the admin API, then drives
/// concurrent senders (one keep-alive connection each) against a running server and
/// reports durable send throughput and latency.
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
    let duration: Double
    let json: Bool

    /// Runs `count` jobs on `threads` threads.
    static func parallel(_ count: Int, threads: Int, _ job: @escaping @Sendable (Int, BlockingHTTPClient) throws -> Void) throws {
        let next = Atomic<Int>(0)
        let failure = Mutex<String?>(nil)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(threads, count)) {
            group.enter()
            Thread.detach {
                let client = BlockingHTTPClient(host: LoadTestTarget.host, port: LoadTestTarget.port)
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
        LoadTestTarget.host = host
        LoadTestTarget.port = port
        let prefix = "lt\(SyncEngine.nowMillis() % 100_000_000)"
        let admin = adminToken
        let memberCount: Int
        switch scenario {
        case .dm: memberCount = 2
        case .group(let n): memberCount = n
        }
        let userCount: Int
        switch scenario {
        case .dm: userCount = senders * 2
        case .group(let n): userCount = max(n, senders)
        }
        log("provisioning \(userCount) users")
        try Self.parallel(userCount, threads: 16) { i, c in
            let r = try c.request("POST", "/v1/admin/users", token: admin, body: ["name": .string("\(prefix)-u\(i)")])
            guard r.status == 201 else { throw UsageError("create user: HTTP \(r.status)") }
        }
        let tokens = Mutex<[Int: String]>([:])
        try Self.parallel(senders, threads: 16) { i, c in
            let r = try c.request("POST", "/v1/admin/users/\(prefix)-u\(i)/devices", token: admin, body: ["name": "loadtest"])
            guard r.status == 201, let t = r.json?["token"]?.stringValue else { throw UsageError("create device: HTTP \(r.status)") }
            tokens.withLock { $0[i] = t }
        }
        let senderTokens = tokens.withLock { d in (0..<senders).map { d[$0]! } }
        let client = BlockingHTTPClient(host: host, port: port)
        var rooms: [Int64] = []
        switch scenario {
        case .dm:
            for i in 0..<senders {
                let r = try client.request("POST", "/v1/direct/\(prefix)-u\(senders + i)", token: senderTokens[i])
                rooms.append(try expect(r, [200, 201], "direct room")["id"]?.int64Value ?? 0)
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
        }
        let hot = try expect(try client.request("GET", "/v1/rooms/\(rooms[0])", token: senderTokens[0]), [200], "room")
        log("sending for \(duration) s with \(senders) senders")

        let latencies = Mutex<[Double]>([])
        let errors = Mutex<[Int: Int]>([:])
        let begin = MonoTime.now()
        let deadline = begin + duration
        let group = DispatchGroup()
        for i in 0..<senders {
            group.enter()
            let token = senderTokens[i]
            let path = "/v1/rooms/\(rooms[i])/messages"
            let (host, port) = (host, port)
            Thread.detach {
                let c = BlockingHTTPClient(host: host, port: port)
                var mine: [Double] = []
                var n = 0
                while MonoTime.now() < deadline {
                    n += 1
                    let t0 = MonoTime.now()
                    let status = (try? c.request("POST", path, token: token,
                                                 body: ["client_msg_id": .string("s\(i)-\(n)"), "body": ["n": .int(n)]]))?.status ?? 0
                    if status == 201 { mine.append((MonoTime.now() - t0) * 1000) } else { errors.withLock { $0[status, default: 0] += 1 } }
                }
                latencies.withLock { $0.append(contentsOf: mine) }
                group.leave()
            }
        }
        group.wait()
        let elapsed = MonoTime.now() - begin
        var lat = latencies.withLock { $0 }
        lat.sort()
        func p(_ q: Double) -> Double { lat.isEmpty ? 0 : lat[min(lat.count - 1, Int(q * Double(lat.count)))] }
        let rate = Double(lat.count) / elapsed
        let isHot = hot["hot"]?.boolValue ?? (memberCount >= 500)
        let rows = isHot ? 0 : rate * Double(memberCount)
        let errs = errors.withLock { $0 }
        if json {
            print(#"{"scenario":"\#(scenarioName)","members":\#(memberCount),"hot":\#(isHot),"senders":\#(senders),"#
                + #""messages":\#(lat.count),"seconds":\#(fmt(elapsed)),"messages_per_s":\#(fmt(rate)),"inbox_rows_per_s":\#(fmt(rows)),"#
                + #""send_ms":{"p50":\#(fmt(p(0.5))),"p90":\#(fmt(p(0.9))),"p99":\#(fmt(p(0.99))),"max":\#(fmt(lat.last ?? 0))},"#
                + #""errors":\#(errs.values.reduce(0, +))}"#)
        } else {
            print("scenario \(scenarioName): \(memberCount)-member room(s), hot=\(isHot), \(senders) senders")
            print("  sent \(lat.count) messages in \(fmt(elapsed)) s: \(fmt(rate)) messages/s, \(fmt(rows)) inbox rows/s")
            print("  send latency ms: p50 \(fmt(p(0.5))) p90 \(fmt(p(0.9))) p99 \(fmt(p(0.99))) max \(fmt(lat.last ?? 0))")
            if !errs.isEmpty { print("  errors by status: \(errs.sorted { $0.key < $1.key })") }
        }
        fflush(nil)
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

/// Where provisioning threads connect (set once before they start).
enum LoadTestTarget {
    nonisolated(unsafe) static var host = "127.0.0.1"
    nonisolated(unsafe) static var port: UInt16 = 8080
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
