import Dispatch
import Glibc
import HTTPClient
import Sockets

/// The measured part of a run: idle clients open, syncing devices catch up, senders
/// send for the duration (closed or open loop), then devices drain what is left.
extension LoadTest {
    /// What a run measured, for the verdict and the report.
    struct Outcome {
        let results: LoadResults
        /// When sending began and ended (MonoTime seconds).
        let begin: Double
        let sendEnd: Double
        /// The `--server-pid` processes' figures, if any were given.
        let server: LoadReport.ServerFigures?
    }

    /// Runs the clients on `group`: its first loop for the senders, the others for
    /// devices and idle clients.
    func drive(_ setup: Setup, on group: EventLoopGroup) throws -> Outcome {
        let plan = self.plan
        let (devices, startCursors, idleTokens) = (setup.devices, setup.startCursors, setup.idleTokens)
        let (roomIDs, sendTokens) = (setup.roomIDs, setup.sendTokens)
        let senderLoop = group.loops[0]
        let loops = Array(group.loops.dropFirst())
        let context = LoadContext(trackStates: changes > 0)
        let board = changes > 0 ? ChangeBoard() : nil
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
                                transport: transport, readEvery: readEvery, context: context, plan: plan, targets: targets,
                                node: d.node, loop: loops[k % loops.count]) {
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
                              targets: targets, loop: senderLoop,
                              interval: rate.map { Double(plan.senders) / $0 }, start: begin, end: end,
                              changes: changes, board: board) { sendersDone.leave() }
            a.loop.execute { a.next() }
        }
        sendersDone.wait()
        let sendEnd = MonoTime.now()
        let cpuAfter = server?.cpuSeconds()
        // The devices go on syncing as they were for a moment before they drain: draining
        // ends a parked pull at once, so a last message still being delivered would be
        // measured through a new connection and a fresh read (the last of 21 sends into a
        // 1,000-member room took 116 ms that way, the others 26-45 ms). One second (any
        // delivery later than that counts as late anyway); with changes two, since
        // reactions reach the stream coalesced, about once a second.
        var grace: UInt32 = 1_000_000
        if let board {
            let made = board.state.withLock { $0 }
            context.results.withLock { $0.changes = made.counts; $0.ownReactions = made.own }
            log("\(made.counts.edits) edits, \(made.counts.recalls) recalls, "
                + "\(made.counts.reactionsAdded + made.counts.reactionsRemoved) reactions; waiting 2 s for coalesced reactions")
            grace = 2_000_000
        }
        usleep(grace)
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
        let figures = server.map { _ in LoadReport.ServerFigures(
            pids: serverPIDs, rssBeforeIdle: rssBeforeIdle ?? 0, rssWithIdle: rssWithIdle, rssEnd: rssEnd ?? 0,
            cpuSeconds: (cpuAfter ?? 0) - (cpuBefore ?? 0)) }
        return Outcome(results: results, begin: begin, sendEnd: sendEnd, server: figures)
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
}
