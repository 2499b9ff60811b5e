import HTTPServer
import Synchronization
import SyncEngine

/// One parked `GET /v1/sync`.
///
/// Without lost wake-ups (Conduit's rule): subscribe to the Notifier **first**, then
/// query; after every wake, query again and answer with what is there. While parked
/// it holds no thread: a subscription, a timer on its loop and this object.
///
/// Confinement: everything but `wakeQueued` is touched only on `responder.loop`; the
/// Notifier callback (writer thread) only flips the atomic and posts to the loop.
final class LongPoll: @unchecked Sendable {
    private let api: PigeonholeAPI
    private let responder: Responder
    private let db: any StoreReadConnection
    private let me: Principal
    private let from: Cursor
    private let limit: Int
    private let perRoomLimit: Int?
    private let timeout: Duration
    /// The user's hot rooms, read with the token (they wake this poll too).
    private let hotRooms: Set<RoomID>
    /// Set when the start's read found the cursor at the head of the stream (no hot
    /// rooms): the Notifier's publication count read before that read.
    private let caughtUpAt: Int?
    private var subscription: Notifier.Subscription?
    private var timer: TimerToken?
    private var finished = false
    private let wakeQueued = Atomic<Bool>(false)

    init(api: PigeonholeAPI, responder: Responder, db: any StoreReadConnection, me: Principal, from: Cursor, limit: Int,
         perRoomLimit: Int?, timeout: Duration, hotRooms: Set<RoomID>, caughtUpAt: Int? = nil) {
        self.api = api
        self.responder = responder
        self.db = db
        self.me = me
        self.from = from
        self.limit = limit
        self.perRoomLimit = perRoomLimit
        self.timeout = timeout
        self.hotRooms = hotRooms
        self.caughtUpAt = caughtUpAt
    }

    var loop: EventLoop { responder.loop }

    func start() {
        if timeout > .zero {
            subscription = api.engine.notifier.subscribe(me.user, rooms: hotRooms) { [self] news in
                if case .revoked(let d) = news {
                    // This device lost its token while parked: answer 401 now.
                    if d == me.device { loop.execute { [self] in finish(APIError.unauthorized.response) } }
                    return
                }
                guard !wakeQueued.exchange(true, ordering: .acquiringAndReleasing) else { return }   // coalesce
                loop.execute { [self] in
                    wakeQueued.store(false, ordering: .releasing)
                    attempt(final: false)
                }
            }
        }
        // The usual first query, unless the start already saw the head and nothing was
        // published since (then any commit after that read wakes this subscription).
        if let seen = caughtUpAt, timeout > .zero, api.engine.notifier.publications == seen {
            // caught up: wait
        } else {
            attempt(final: timeout == .zero)
        }
        guard !finished else { return }
        api.polls.add(self)
        timer = loop.schedule(after: timeout) { [self] in attempt(final: true) }
        responder.onCancel { [self] in cleanup() }
    }

    /// Queries from the cursor; answers if anything is there, or if `final`.
    private func attempt(final: Bool) {
        guard !finished else { return }
        let result: PullResult
        do {
            result = try api.engine.read(db) {
                try Stream.pull($0, user: me.user, after: from, limit: limit, perRoomLimit: perRoomLimit)
            }
        } catch {
            return finish(APIError.response(for: error))
        }
        // Nothing new: keep waiting. (The cursor may still differ from `from` by hot rooms
        // joined since, at their join points: the same position, answered at the timeout.)
        if result.events.isEmpty && result.gaps.isEmpty && !final { return }
        finish(json(.ok) { Encode.pull(result, &$0) })
    }

    /// Shutdown: answer now with whatever is there.
    func finishNow() { attempt(final: true) }

    private func finish(_ response: HTTPResponse) {
        guard !finished else { return }
        cleanup()
        responder.respond(response)
    }

    private func cleanup() {
        guard !finished else { return }
        finished = true
        if let subscription { api.engine.notifier.unsubscribe(subscription) }
        if let timer { loop.cancel(timer) }
        api.polls.remove(self)
    }
}

/// The parked polls, so a shutdown can answer them instead of cutting them off.
final class PollRegistry: Sendable {
    private let polls = Mutex<[ObjectIdentifier: LongPoll]>([:])

    func add(_ p: LongPoll) { polls.withLock { $0[ObjectIdentifier(p)] = p } }
    func remove(_ p: LongPoll) { _ = polls.withLock { $0.removeValue(forKey: ObjectIdentifier(p)) } }
    var count: Int { polls.withLock { $0.count } }

    func finishAll() {
        for p in polls.withLock({ Array($0.values) }) { p.loop.execute { p.finishNow() } }
    }
}

extension PigeonholeAPI {
    /// `GET /v1/sync?cursor=&timeout=&limit=&per_room_limit=`
    func startPull(_ input: RequestInput, _ responder: Responder, _ db: any StoreReadConnection) throws {
        // One read transaction for what comes before the wait: the token, the cursor (or
        // the acked one) and the hot rooms to listen to. The pull itself reads again
        // after subscribing, so nothing committed in between is missed.
        let address = input.request.remoteAddress
        try checkAuthAllowed(address)
        guard let token = input.bearerToken else { throw APIError.unauthorized }
        let cursorText = input.queryString("cursor")
        let mayWait = (input.queryString("timeout").flatMap { Int($0) } ?? config.defaultPollTimeout) > 0
        typealias Start = (me: Principal, from: Result<(Cursor, advance: Bool), SyncError>, hot: Set<RoomID>, caughtUp: Bool)
        let publications = engine.notifier.publications   // before the snapshot: see LongPoll.start
        let start: Start? = try engine.read(db) { ctx -> Start? in
            guard let (me, state) = try Accounts.authenticateForPull(ctx.db, token: token) else { return nil }
            let bounds = (head: state.inboxHead, floor: state.inboxFloor)
            let from: Result<(Cursor, advance: Bool), SyncError>
            var caughtUp = false
            do {
                if let cursorText {
                    let c = try Stream.validateWithHead(ctx.db, cursor: cursorText, user: me.user, bounds: bounds).cursor
                    from = .success((c, Stream.ackMoves(from: state.ackedSeq, state.ackedCursor, to: c)))
                    caughtUp = c.hot.isEmpty && c.inboxSeq == state.inboxHead
                } else {
                    // Without a cursor: from the device's acked one.
                    guard let acked = state.ackedCursor else { throw SyncError.cursorRequired }
                    from = .success((try Stream.validateWithHead(ctx.db, cursor: acked, user: me.user, bounds: bounds).cursor, false))
                }
            } catch let e as SyncError {
                from = .failure(e)
            }
            let hot = mayWait ? try Stream.hotRooms(ctx.db, user: me.user) : []
            return (me, from, hot, caughtUp && hot.isEmpty)
        }
        let me = try authenticated(start?.me, address: address)
        let limit = try input.queryInt("limit", default: engine.config.defaultPullLimit, range: 1...engine.config.maxPullLimit)!
        let perRoom = try input.queryInt("per_room_limit", default: nil, range: 1...1000)
        // Over the maximum is clamped, not rejected: clients may ask for "as long as you can".
        let requested = try input.queryInt("timeout", default: config.defaultPollTimeout, range: 0...Int(Int32.max))!
        let timeout = Duration.seconds(min(requested, config.maxPollTimeout))
        let from: Cursor
        switch start!.from {
        case .failure(.cursorExpired): return responder.respond(try cursorExpired(me, db))
        case .failure(let e): throw e
        case .success(let (cursor, advance)):
            from = cursor
            // Presenting C proves the device stored everything before C: ack it, off the
            // request's path (a lost ack only means a later resume repeats a little).
            if advance { engine.ackLater(device: me.device, cursor: cursor) }
        }
        LongPoll(api: self, responder: responder, db: db, me: me, from: from, limit: limit, perRoomLimit: perRoom,
                 timeout: timeout, hotRooms: start!.hot, caughtUpAt: start!.caughtUp ? publications : nil).start()
    }

    /// 410 `cursor_expired` whose body already carries the first screen (as
    /// `GET /v1/conversations` returns it) with a fresh cursor: recovery in one round trip.
    func cursorExpired(_ me: Principal, _ db: any StoreReadConnection) throws -> HTTPResponse {
        let page = try engine.read(db) {
            try Conversations.list($0, me: me.user, limit: engine.config.defaultConversationLimit, preview: 3, page: nil)
        }
        return json(.gone) { w in
            w.object { w in
                w.key("error")
                w.object { w in
                    w.field("code", "cursor_expired")
                    w.field("message", "events after this cursor were pruned; start again from first_screen.cursor")
                }
                w.key("first_screen")
                Encode.conversations(page, &w)
            }
        }
    }
}
