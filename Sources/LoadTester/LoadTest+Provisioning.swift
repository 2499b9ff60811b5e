import Dispatch
import Glibc
import HTTPClient
import JSON
import Synchronization

/// Setting a run up through the API before anything is measured: users and their
/// devices (admin API), rooms (the owners' own requests, waiting out rate limits),
/// every syncing device's first-screen cursor, and the idle users.
extension LoadTest {
    /// What provisioning made, by user and room index (`LoadPlan`).
    struct Setup {
        /// User names.
        let names: [String]
        /// Each user's device tokens (its syncing devices; one for a user who only sends).
        let userTokens: [Int: [String]]
        /// A sending token per user ("" for a user without devices).
        let sendTokens: [String]
        let roomInfo: [(id: Int64, hot: Bool)]
        /// The syncing devices, and the cursor each starts from.
        let devices: [DeviceSpec]
        let startCursors: [String]
        let idleTokens: [String]

        var roomIDs: [Int64] { roomInfo.map(\.id) }
    }

    /// One syncing device: whose, its token, its rooms' ids, the node it talks to.
    struct DeviceSpec: Sendable { let name: String; let user: Int; let token: String; let rooms: Set<Int64>; let node: Int }

    func provision() throws -> Setup {
        let prefix = "lt\(Self.wallClockMillis() % 100_000_000)"
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

        return Setup(names: names, userTokens: userTokens, sendTokens: sendTokens, roomInfo: roomInfo,
                     devices: devices, startCursors: startCursors, idleTokens: idleTokens)
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

    /// Wall-clock milliseconds (CLOCK_REALTIME): a run's names are unique by them.
    private static func wallClockMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
