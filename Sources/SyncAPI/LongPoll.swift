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
    /// What the engine's start decided: who, from where, which hot rooms wake it.
    private let pull: PullStart
    private var me: Principal { pull.me }
    private let limit: Int
    private let perRoomLimit: Int?
    private let timeout: Duration
    private var subscription: Notifier.Subscription?
    private var timer: TimerToken?
    private var finished = false
    private let wakeQueued = Atomic<Bool>(false)
    /// Set by `News.recheck` (news may have been missed): the next attempt first checks
    /// that the device is still active.
    private let recheckToken = Atomic<Bool>(false)

    init(api: PigeonholeAPI, responder: Responder, db: any StoreReadConnection, pull: PullStart, limit: Int,
         perRoomLimit: Int?, timeout: Duration) {
        self.api = api
        self.responder = responder
        self.db = db
        self.pull = pull
        self.limit = limit
        self.perRoomLimit = perRoomLimit
        self.timeout = timeout
    }

    var loop: EventLoop { responder.loop }

    func start() {
        if timeout > .zero {
            subscription = api.engine.notifier.subscribe(me.user, rooms: pull.hotRooms) { [self] news in
                if case .revoked(let d) = news {
                    // This device lost its token while parked: answer 401 now.
                    if d == me.device { loop.execute { [self] in finish(APIError.unauthorized.response) } }
                    return
                }
                // News may have been missed, a revocation too: check the token again.
                if case .recheck = news { recheckToken.store(true, ordering: .releasing) }
                guard !wakeQueued.exchange(true, ordering: .acquiringAndReleasing) else { return }   // coalesce
                loop.execute { [self] in
                    wakeQueued.store(false, ordering: .releasing)
                    attempt(final: false)
                }
            }
        }
        // The usual first query, unless the start already saw the head and nothing was
        // published since (then any commit after that read wakes this subscription).
        if let seen = pull.caughtUpAt, timeout > .zero, api.engine.notifier.publications == seen {
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
        if recheckToken.exchange(false, ordering: .acquiringAndReleasing) {
            switch Result(catching: { () throws(SyncError) in try api.engine.deviceActive(db, me.device) }) {
            case .success(true): break
            case .success(false): return finish(APIError.unauthorized.response)
            case .failure(let e): return finish(APIError.response(for: e))
            }
        }
        let result: PullResult
        do {
            result = try api.engine.pull(db, pull, limit: limit, perRoomLimit: perRoomLimit)
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
    /// `GET /v1/sync?cursor=&timeout=&limit=&per_room_limit=`: parameters first (a bad
    /// one costs no database read), then the engine's start, then park.
    func startPull(_ input: RequestInput, _ responder: Responder, _ db: any StoreReadConnection) throws {
        let address = input.request.remoteAddress
        try checkAuthAllowed(address)
        let limit = try input.queryInt("limit", default: engine.config.defaultPullLimit, range: 1...engine.config.maxPullLimit)!
        let perRoom = try input.queryInt("per_room_limit", default: nil, range: 1...1000)
        // Over the maximum is clamped, not rejected: clients may ask for "as long as you can".
        let requested = try input.queryInt("timeout", default: config.defaultPollTimeout, range: 0...Int(Int32.max))!
        let timeout = Duration.seconds(min(requested, config.maxPollTimeout))
        guard let token = input.bearerToken else { throw APIError.unauthorized }
        let outcome = try engine.startPull(db, token: token, cursor: input.queryString("cursor"), mayWait: requested > 0)
        switch outcome {
        case nil:
            throw authenticationFailed(address)
        case .expired(_, let page)?:
            responder.respond(cursorExpired(page))
        case .started(let start)?:
            LongPoll(api: self, responder: responder, db: db, pull: start, limit: limit, perRoomLimit: perRoom,
                     timeout: timeout).start()
        }
    }

    /// 410 `cursor_expired` whose body already carries the first screen (as
    /// `GET /v1/conversations` returns it) with a fresh cursor: recovery in one round trip.
    func cursorExpired(_ page: ConversationPage) -> HTTPResponse {
        json(.gone) { w in
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
