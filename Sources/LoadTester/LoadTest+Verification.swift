import Glibc
import Synchronization

/// The verdict: every device got every acknowledged message exactly once and in
/// order, each user's first screen agrees with what was sent and read, and with
/// `--changes` every device converged on each message's current state; then the report.
extension LoadTest {
    /// Throws `LoadTestFailure` when anything was violated (after printing the report).
    func verify(_ setup: Setup, _ outcome: Outcome) throws {
        let plan = self.plan
        let (names, userTokens, devices, roomIDs) = (setup.names, setup.userTokens, setup.devices, setup.roomIDs)
        let results = outcome.results

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
        // With changes, unread counts the messages above the read marker, not the seqs.
        let received = changes > 0 ? Self.received(devices: devices, results: results) : nil
        for u in plan.receivers {
            violations += Delivery.verifyUnread(
                user: names[u], rows: screenTable[u] ?? [], rooms: plan.userRooms[u].map { roomIDs[$0] },
                acked: results.acked, ownSends: results.ownSends.compactMapValues { $0[u] },
                readMarks: results.readMarks.compactMapValues { $0[u] }, exact: exact,
                received: received.map { $0[u] ?? Delivery.Received() })
        }
        let convergence = changes > 0 ? try checkConvergence(setup, results) : nil
        violations += convergence?.violations ?? []

        let nodes = targets.indices.map { n in
            LoadReport.Node(url: targets[n].url, devices: devices.filter { $0.node == n }.count,
                            requests: n < results.requestsPerNode.count ? results.requestsPerNode[n] : 0,
                            idle: (0..<idle).filter { plan.idleNode($0) == n }.count)
        }
        let report = LoadReport(
            test: self, roomInfo: setup.roomInfo, results: results, deviceCount: devices.count, nodes: nodes, begin: outcome.begin,
            sendEnd: outcome.sendEnd, violations: violations, exactUnread: exact, convergence: convergence,
            server: outcome.server)
        print(json ? report.json().serializedString : report.text())
        fflush(nil)
        if !violations.isEmpty {
            let lines = violations.prefix(20).map { "  " + $0 }.joined(separator: "\n")
            let more = violations.count > 20 ? "\n  ... and \(violations.count - 20) more" : ""
            log("verification FAILED: \(violations.count) violation(s)\n" + lines + more)
            throw LoadTestFailure(description: "loadtest: \(violations.count) violation(s)")
        }
    }
}
