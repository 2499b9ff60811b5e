import Synchronization

/// The `--changes` mode's closing checks: the server's current state of every message
/// (read once, after the devices drained, through each room's history as its owner),
/// and every device's states against it.
extension LoadTest {
    /// The convergence verdict, for the report.
    struct ConvergenceOutcome {
        let violations: [String]
        /// (device, message) pairs compared.
        let compared: Int
        /// Messages read from the server's history.
        let serverMessages: Int
    }

    func checkConvergence(_ setup: Setup, _ results: LoadResults) throws -> ConvergenceOutcome {
        let plan = self.plan
        let (roomIDs, sendTokens) = (setup.roomIDs, setup.sendTokens)
        log("reading the current state of every message from \(roomIDs.count) room histories")
        let table = Mutex<[Convergence.Key: MessageState]>([:])
        let read = Mutex<Set<Int64>>([])
        let failures = Mutex<[String]>([])
        try parallel(roomIDs.count) { r, c in
            let room = roomIDs[r]
            let token = sendTokens[plan.rooms[r][0]]   // the room's owner
            var states: [Convergence.Key: MessageState] = [:]
            var before: Int64? = nil
            repeat {
                let path = "/v1/rooms/\(room)/messages?limit=100" + (before.map { "&before=\($0)" } ?? "")
                let resp = try Self.patiently { try c.request("GET", path, token: token) }
                guard resp.status == 200, let page = SyncPageScanner.scanHistory(resp.body) else {
                    failures.withLock { $0.append("server history room \(room): HTTP \(resp.status), not a history page") }
                    return
                }
                for m in page.messages { states[Convergence.Key(room: room, seq: m.messageSeq)] = m.state }
                before = page.nextBefore
            } while before != nil
            table.withLock { t in t.merge(states) { a, _ in a } }
            read.withLock { _ = $0.insert(room) }
        }
        let server = table.withLock { $0 }
        let devices = (0..<setup.devices.count).compactMap { results.devices[$0]?.states }
        let verdict = Convergence.verify(devices: devices, server: server, serverRooms: read.withLock { $0 },
                                         own: results.ownReactions)
        return ConvergenceOutcome(violations: failures.withLock { $0 } + verdict.violations, compared: verdict.compared,
                                  serverMessages: server.count)
    }

    /// What each user's devices received, for the first-screen check in the `--changes`
    /// mode (user index -> message seqs and newest event seq per room).
    static func received(devices: [DeviceSpec], results: LoadResults) -> [Int: Delivery.Received] {
        var out: [Int: Delivery.Received] = [:]
        for (k, spec) in devices.enumerated() {
            guard let log = results.devices[k] else { continue }
            var r = out[spec.user] ?? Delivery.Received()
            for m in log.received { r.messages[m.room, default: []].insert(m.seq) }
            for (room, seq) in log.states?.newestSeq ?? [:] { r.newest[room] = max(r.newest[room] ?? 0, seq) }
            out[spec.user] = r
        }
        return out
    }
}
