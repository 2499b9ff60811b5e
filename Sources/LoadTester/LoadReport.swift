import JSON

/// The figures of one load-test run, as text for people or one JSON object for scripts.
struct LoadReport {
    struct ServerFigures {
        /// The processes measured; the figures are their sums.
        let pids: [Int32]
        let rssBeforeIdle: Int
        let rssWithIdle: Int?
        let rssEnd: Int
        let cpuSeconds: Double
    }

    /// One `--url` and how many clients were spread onto it.
    struct Node {
        let url: String
        let devices: Int
        /// Sends and changes made to it.
        let requests: Int
        let idle: Int
    }

    struct Quantiles {
        let p50, p90, p99, p999, max: Double

        init(_ values: [Double]) {
            let s = values.sorted()
            p50 = Delivery.quantile(s, 0.5)
            p90 = Delivery.quantile(s, 0.9)
            p99 = Delivery.quantile(s, 0.99)
            p999 = Delivery.quantile(s, 0.999)
            max = s.last ?? 0
        }

        var text: String { "p50 \(fmt(p50)) p90 \(fmt(p90)) p99 \(fmt(p99)) p99.9 \(fmt(p999)) max \(fmt(max))" }
        var json: JSONValue {
            ["p50": .number(fmt(p50)), "p90": .number(fmt(p90)), "p99": .number(fmt(p99)), "p99_9": .number(fmt(p999)),
             "max": .number(fmt(max))]
        }
    }

    let scenario: String
    let transport: String
    let users: Int
    let rooms: Int
    let hotRooms: Int
    let senders: Int
    let devices: Int
    let devicesPerUser: Int
    let idle: Int
    let nodes: [Node]
    /// `LoadPlan.Route`: which node each send went to.
    let route: String
    let targetRate: Double?
    let messages: Int
    let seconds: Double
    let inboxRows: Int
    let send: Quantiles
    let delivered: Int
    let expected: Int
    let deliverySeconds: Double
    let delivery: Quantiles
    /// Per message: 201 -> the last of its devices has it.
    let fanout: Quantiles
    /// The same from the start of the send request (includes the send's own commit).
    let fanoutFromSend: Quantiles
    /// Deliveries more than a second after their 201: a lost wake-up shows up here
    /// (long-polls re-poll every 5 s, so the verifier alone would still pass).
    let late: Int
    let sendErrors: [String: Int]
    let syncErrors: [String: Int]
    let idleErrors: [String: Int]
    let violations: [String]
    let exactUnread: Bool
    /// The `--changes` mode: its fraction, the changes made and the convergence verdict.
    let changeFraction: Double
    let changes: ChangeBoard.Counts
    let convergence: LoadTest.ConvergenceOutcome?
    let server: ServerFigures?

    init(test: LoadTest, roomInfo: [(id: Int64, hot: Bool)], results: LoadResults, deviceCount: Int, nodes: [Node],
         begin: Double, sendEnd: Double, violations: [String], exactUnread: Bool,
         convergence: LoadTest.ConvergenceOutcome?, server: ServerFigures?) {
        let plan = test.plan
        scenario = test.scenarioName
        transport = test.transport.rawValue
        users = plan.userCount
        rooms = plan.rooms.count
        hotRooms = roomInfo.filter(\.hot).count
        senders = plan.senders
        route = plan.route.rawValue
        devices = deviceCount
        devicesPerUser = test.devicesPerUser
        idle = test.idle
        self.nodes = nodes
        targetRate = test.rate
        messages = results.acked.count
        seconds = sendEnd - begin
        var membersOf: [Int64: Int] = [:]
        for (r, info) in roomInfo.enumerated() where !info.hot { membersOf[info.id] = plan.rooms[r].count }
        inboxRows = results.acked.reduce(0) { $0 + (membersOf[$1.room] ?? 0) }
        send = Quantiles(results.sendLatencies)

        var ackAt: [Int64: [Int64: Double]] = [:]
        for s in results.acked { ackAt[s.room, default: [:]][s.seq] = s.at }
        var delays: [Double] = []
        var last: [Int64: [Int64: Double]] = [:]
        var lastReceive = begin
        var count = 0
        for d in results.devices.values {
            count += d.received.count
            for r in d.received {
                lastReceive = Swift.max(lastReceive, r.at)
                guard let a = ackAt[r.room]?[r.seq] else { continue }
                let delay = Swift.max(0, r.at - a) * 1000   // a pull can beat its own 201 home: 0
                delays.append(delay)
                last[r.room, default: [:]][r.seq] = Swift.max(last[r.room]?[r.seq] ?? 0, delay)
            }
        }
        delivered = count
        late = delays.filter { $0 > 1000 }.count
        delivery = Quantiles(delays)
        fanout = Quantiles(last.values.flatMap(\.values))
        var fromSend: [Double] = []
        var lastAt: [Int64: [Int64: Double]] = [:]
        for d in results.devices.values {
            for r in d.received { lastAt[r.room, default: [:]][r.seq] = Swift.max(lastAt[r.room]?[r.seq] ?? 0, r.at) }
        }
        for (room, seqs) in lastAt {
            for (seq, at) in seqs { if let start = results.sendStarts[room]?[seq] { fromSend.append((at - start) * 1000) } }
        }
        fanoutFromSend = Quantiles(fromSend)
        deliverySeconds = Swift.max(lastReceive - begin, 0.001)
        var perRoom: [Int64: Int] = [:]
        for s in results.acked { perRoom[s.room, default: 0] += 1 }
        expected = results.devices.values.reduce(0) { sum, d in sum + d.rooms.reduce(0) { $0 + (perRoom[$1] ?? 0) } }
        sendErrors = results.sendErrors
        syncErrors = results.syncErrors
        idleErrors = results.idleErrors
        self.violations = violations
        self.exactUnread = exactUnread
        changeFraction = test.changes
        changes = results.changes
        self.convergence = convergence
        self.server = server
    }

    var rate: Double { Double(messages) / Swift.max(seconds, 0.001) }

    private static func codes(_ e: [String: Int]) -> JSONValue {
        .object(e.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })
    }

    private static func codesText(_ e: [String: Int]) -> String {
        e.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    }

    func json() -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("scenario", .string(scenario)), ("transport", .string(transport)), ("users", .int(users)),
            ("rooms", .int(rooms)), ("hot_rooms", .int(hotRooms)), ("senders", .int(senders)),
            ("devices", .int(devices)), ("devices_per_user", .int(devicesPerUser)), ("idle", .int(idle)),
            ("route", .string(route)),
            ("urls", .array(nodes.map { ["url": .string($0.url), "devices": .int($0.devices), "requests": .int($0.requests),
                                          "idle": .int($0.idle)] })),
            ("target_rate", targetRate.map { .number(fmt($0)) } ?? .null),
            ("messages", .int(messages)), ("seconds", .number(fmt(seconds))), ("messages_per_s", .number(fmt(rate))),
            ("inbox_rows_per_s", .number(fmt(Double(inboxRows) / Swift.max(seconds, 0.001)))),
            ("send_ms", send.json), ("delivered", .int(delivered)), ("expected_deliveries", .int(expected)),
            ("deliveries_per_s", .number(fmt(Double(delivered) / deliverySeconds))),
            ("delivery_ms", delivery.json), ("late_deliveries", .int(late)), ("fanout_ms", fanout.json), ("fanout_from_send_ms", fanoutFromSend.json),
            ("errors", .int(sendErrors.values.reduce(0, +))), ("errors_by_code", Self.codes(sendErrors)),
            ("sync_errors_by_code", Self.codes(syncErrors)), ("idle_errors_by_code", Self.codes(idleErrors)),
            ("unread_check", .string(exactUnread ? "exact" : "bounds")),
            ("violations", .int(violations.count)),
        ]
        if let c = convergence {
            fields.append(("changes", [
                "fraction": .number(fmt(changeFraction)), "edits": .int(changes.edits), "recalls": .int(changes.recalls),
                "reactions_added": .int(changes.reactionsAdded), "reactions_removed": .int(changes.reactionsRemoved),
                "errors_by_code": Self.codes(changes.errors), "converged": .bool(c.violations.isEmpty),
                "convergence_violations": .int(c.violations.count), "states_compared": .int(c.compared),
                "server_messages": .int(c.serverMessages),
            ]))
        }
        if let s = server {
            var srv: [(String, JSONValue)] = [("pids", .array(s.pids.map { .int(Int($0)) })),
                                              ("rss_bytes_start", .int(s.rssBeforeIdle)), ("rss_bytes_end", .int(s.rssEnd)),
                                              ("cpu_percent_while_sending", .number(fmt(s.cpuSeconds / Swift.max(seconds, 0.001) * 100)))]
            if let w = s.rssWithIdle, idle > 0 {
                srv.append(("rss_bytes_with_idle", .int(w)))
                srv.append(("rss_bytes_per_idle", .int((w - s.rssBeforeIdle) / idle)))
            }
            fields.append(("server", .object(srv)))
        }
        return .object(fields)
    }

    func text() -> String {
        var lines: [String] = []
        lines.append("scenario \(scenario): \(users) users, \(rooms) room(s) (\(hotRooms) hot), \(senders) senders, "
            + "\(devices) devices syncing by \(transport)" + (idle > 0 ? ", \(idle) idle \(transport) clients" : ""))
        for n in nodes {
            lines.append("  url \(n.url): \(n.devices) devices, \(n.requests) sends and changes" + (idle > 0 ? ", \(n.idle) idle clients" : ""))
        }
        lines.append("  sent \(messages) messages in \(fmt(seconds)) s: \(fmt(rate)) messages/s"
            + (targetRate.map { " (target \(fmt($0))/s)" } ?? "")
            + ", \(fmt(Double(inboxRows) / Swift.max(seconds, 0.001))) inbox rows/s")
        lines.append("  send latency ms" + (targetRate == nil ? "" : " (from the scheduled start)") + ": \(send.text)")
        lines.append("  delivered \(delivered) message events (expected \(expected)): \(fmt(Double(delivered) / deliverySeconds)) deliveries/s")
        lines.append("  delivery latency ms (201 -> device): \(delivery.text)"
            + (late > 0 ? "; \(late) more than 1 s late" : ""))
        lines.append("  fan-out ms (201 -> last device of the room): \(fanout.text)")
        lines.append("  fan-out ms (send start -> last device of the room): \(fanoutFromSend.text)")
        if !sendErrors.isEmpty { lines.append("  send errors: \(Self.codesText(sendErrors))") }
        if !syncErrors.isEmpty { lines.append("  sync errors: \(Self.codesText(syncErrors))") }
        if !idleErrors.isEmpty { lines.append("  idle client errors: \(Self.codesText(idleErrors))") }
        if let c = convergence {
            lines.append("  changes (\(fmt(changeFraction * 100))% of operations): \(changes.edits) edits, \(changes.recalls) recalls, "
                + "\(changes.reactionsAdded) reactions added, \(changes.reactionsRemoved) removed"
                + (changes.errors.isEmpty ? "" : "; change errors: \(Self.codesText(changes.errors))"))
            if changes.edits + changes.recalls + changes.reactionsAdded + changes.reactionsRemoved == 0 {
                lines.append("  (no change was made: the convergence check below saw unchanged messages only)")
            }
            lines.append(c.violations.isEmpty
                ? "  converged: every device holds the server's current state of every message it received "
                    + "(\(c.compared) device states compared, \(c.serverMessages) messages on the server)"
                : "  NOT CONVERGED: \(c.violations.count) violation(s) (\(c.compared) device states compared)")
        }
        if let s = server {
            var line = "  server" + (s.pids.count > 1 ? " (\(s.pids.count) processes, summed)" : "")
                + ": RSS \(s.rssBeforeIdle / 1024) KiB at start, \(s.rssEnd / 1024) KiB at end, "
                + "CPU \(fmt(s.cpuSeconds / Swift.max(seconds, 0.001) * 100))% while sending"
            if let w = s.rssWithIdle, idle > 0 { line += "; \((w - s.rssBeforeIdle) / idle) B per idle client" }
            lines.append(line)
        }
        if violations.isEmpty {
            lines.append("  verified: every device received every acknowledged message of its rooms exactly once, in seq order;")
            lines.append("  every first screen lists each room once with unread = "
                + (convergence == nil ? "last_seq - read_seq" : "the messages received above read_seq")
                + (exactUnread ? ", matching what was sent and read" : " (bounds only: some sends had unknown outcomes)"))
        } else {
            lines.append("  VIOLATIONS: \(violations.count)")
        }
        return lines.joined(separator: "\n")
    }
}

/// A figure rounded to two decimals, for the report and the log.
func fmt(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    return String(r)
}
