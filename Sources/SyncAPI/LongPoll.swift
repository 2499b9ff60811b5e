import HTTPServer
import Synchronization
import SyncEngine
import Sockets

/// One parked `GET /v1/sync`.
///
/// Without lost wake-ups (Conduit's rule): subscribe to the Notifier **first**, then
/// query; after every wake, query again and answer with what is there. While parked
/// it holds no thread: a subscription, a timer on its loop and this object. Its
/// queries run off the loop (`SharedPulls`, on the store's read threads); news that
/// arrives while one is under way makes it query once more when it returns.
///
/// Confinement: everything is touched only on `responder.loop` (the subscription's
/// lane is that loop; a read's answer hops back to it).
final class LongPoll: @unchecked Sendable {
    private let api: PigeonholeAPI
    private let responder: Responder
    /// What the engine's start decided: who, from where, which hot rooms wake it.
    private let pull: PullStart
    private var me: Principal { pull.me }
    private let limit: Int
    private let perRoomLimit: Int?
    private let timeout: Duration
    private var subscription: Notifier.Subscription?
    /// Where the subscription's news goes (this pull; after the answer, perhaps its
    /// continuation: `PullContinuations`).
    private var relay: NewsRelay?
    /// A shutdown answers this pull: nothing is kept for a re-poll.
    private var shuttingDown = false
    /// This pull's place among its device's waits (`DeviceWaits`).
    private var waitID: UInt64?
    private var timer: TimerToken?
    private var finished = false
    /// A query is under way; `again`: news came meanwhile (query once more after it);
    /// `finalWanted`: the timeout or a shutdown came meanwhile (answer whatever it finds).
    private var reading = false
    private var again = false
    private var finalWanted = false
    /// Set by `News.recheck` (news may have been missed): the next query first checks
    /// that the device is still active.
    private var recheckToken = false
    /// Parked with nothing after `pull.from` as of a query (or the start's caught-up
    /// read), and no news since: the next news alone says what the page is.
    private var atHead = false

    init(api: PigeonholeAPI, responder: Responder, pull: PullStart, limit: Int, perRoomLimit: Int?, timeout: Duration) {
        self.api = api
        self.responder = responder
        self.pull = pull
        self.limit = limit
        self.perRoomLimit = perRoomLimit
        self.timeout = timeout
    }

    var loop: EventLoop { responder.loop }

    /// Parks (or queries first). `adopted`: a continuation this pull starts from, its
    /// subscription already at the head (`PullContinuations`).
    func start(adopting adopted: PullContinuations.Taken? = nil) {
        if let adopted {
            // The answered pull's subscription: no news since it was at the head here.
            subscription = adopted.subscription
            relay = adopted.relay
            adopted.relay.target = { [self] news in receive(news) }
        } else if timeout > .zero {
            let relay = NewsRelay()
            self.relay = relay
            relay.target = { [self] news in receive(news) }
            let loop = self.loop
            subscription = api.engine.notifier.subscribe(me.user, rooms: pull.hotRooms, lane: api.lane(loop)) { news in
                if loop.isCurrent { relay.deliver(news) } else { loop.execute { relay.deliver(news) } }
            }
        }
        api.polls.add(self)
        if timeout > .zero {
            // Over the device's cap, its oldest wait ends (this one may be it later).
            let loop = self.loop
            waitID = api.waits.add(me.device) { [self] in loop.execute { [self] in finishNow() } }
            timer = loop.schedule(after: timeout) { [self] in attempt(final: true) }
        }
        // Last of the registrations: a client already gone cancels at once, and the
        // cleanup undoes all of them.
        responder.onCancel { [self] in cleanup() }
        guard !finished else { return }
        // The usual first query, unless the start already saw the head and nothing was
        // published since (then any commit after that read wakes this subscription).
        if adopted != nil {
            atHead = true   // the continuation's subscription heard nothing since its answer
        } else if let seen = pull.caughtUpAt, timeout > .zero, api.engine.notifier.publications == seen {
            atHead = true   // caught up: wait
        } else {
            attempt(final: timeout == .zero)
        }
    }

    private func receive(_ news: Notifier.News) {
        switch news {
        case .revoked(let d):
            // This device lost its token while parked: answer 401 now.
            if d == me.device { finish(api.errorResponse(APIError.unauthorized)) }
        case .recheck:
            // News may have been missed, a revocation too: check the token again.
            recheckToken = true
            attempt(final: false)
        case .inbox(let seq, let message?) where canAnswerAtOnce && seq == pull.from.inboxSeq + 1:
            answer(message, Cursor(user: me.user, inboxSeq: seq, hot: pull.from.hot))
        case .inboxEvent(let seq, let event) where canAnswerAtOnce && seq == pull.from.inboxSeq + 1:
            let cursor = Cursor(user: me.user, inboxSeq: seq, hot: pull.from.hot)
            answer(cursor) { $0.page(event, cursor) }
        case .room(let room, let seq, let message?) where canAnswerAtOnce && pull.from.hot[room].map({ seq == $0 + 1 }) == true:
            var hot = pull.from.hot
            hot[room] = seq
            let cursor = Cursor(user: me.user, inboxSeq: pull.from.inboxSeq, hot: hot)
            if api.engine.store.isShared {
                checkThenAnswer(room: room, seq: seq, message, cursor)
            } else {
                answer(message, cursor)
            }
        case .inbox, .inboxEvent, .room, .receipts:
            attempt(final: false)
        }
    }

    /// Whether news may be answered without a query: parked at the head (see `atHead`),
    /// no token recheck due.
    private var canAnswerAtOnce: Bool { atHead && !reading && !finished && !recheckToken && !finalWanted }

    /// The one event after the cursor is the message the news brought (a send on this
    /// node): the page a query would read, without the query. The inbox row at exactly
    /// the cursor's next seq is that message (the writer said so); a hot room's next seq
    /// likewise, and on a store of one process the news comes in commit order, so a leave
    /// before it would have come first (and made this pull query). Several nodes: a
    /// leave on another node may arrive after a send here, so hot rooms query there.
    /// Each answer is a task of its own on the loop (a lane tells a thousand pulls in one
    /// task: answering them all inside it would hold the loop), and pulls at one position
    /// share one encoding (`SharedPulls.page`).
    private func answer(_ message: Message, _ cursor: Cursor) {
        answer(cursor) { $0.page(message, cursor) }
    }

    /// Answers with `page` (of the one row at the cursor's next seq: a message, or a read
    /// marker of the user's) in a loop task of its own.
    private func answer(_ cursor: Cursor, _ page: @escaping @Sendable (SharedPulls) -> HTTPResponse) {
        reading = true   // news meanwhile changes nothing: this page is already right
        let pulls = api.pulls
        loop.execute { [self] in
            guard !finished else { return }
            pulls.answeredAtOnce.add(1)
            finish(page(pulls), continuingAt: cursor)
        }
    }

    /// Several nodes: a hot room's message is this pull's page if the user is still a
    /// member with nothing new in their inbox (`HotWakeChecks`: one read for every pull
    /// the message woke on this loop); otherwise, or on news meanwhile, it queries.
    private func checkThenAnswer(room: RoomID, seq: Int64, _ message: Message, _ cursor: Cursor) {
        guard let checks = api.hotWakes(on: loop) else { return attempt(final: false) }
        reading = true   // news meanwhile: `again`, and the check's answer is not used
        again = false
        atHead = false
        checks.check(room: room, seq: seq, user: me.user, inboxSeq: pull.from.inboxSeq) { [self] atHeadNow in
            guard !finished else { return }
            if atHeadNow && !again && !recheckToken && !finalWanted {
                answer(message, cursor)
            } else {
                reading = false
                attempt(final: false)
            }
        }
    }

    /// Queries from the cursor; answers if anything is there, or if `final`.
    private func attempt(final: Bool) {
        guard !finished else { return }
        if final { finalWanted = true }
        if reading {
            again = true
            return
        }
        reading = true
        atHead = false
        again = false
        let check = recheckToken
        recheckToken = false
        let loop = self.loop
        api.pulls.pull(pull, limit: limit, perRoomLimit: perRoomLimit, checkDevice: check) { [self] outcome in
            loop.execute { [self] in answered(outcome) }
        }
    }

    private func answered(_ outcome: SharedPulls.Outcome) {
        reading = false
        guard !finished else { return }
        switch outcome {
        case .failed(let error):
            finish(api.errorResponse(error))
        case .revoked:
            finish(api.errorResponse(APIError.unauthorized))
        case .page(let result, let response):
            // Nothing new: keep waiting (answered at the timeout).
            if result.caughtUp && !finalWanted {
                if again { attempt(final: false) } else { atHead = true }
                return
            }
            // Nothing more to read and no news since the read began: the cursor is the head.
            finish(response, continuingAt: result.hasMore || !result.gaps.isEmpty ? nil : result.cursor)
        }
    }

    /// Shutdown: answer now with whatever is there.
    func finishNow() {
        shuttingDown = true
        attempt(final: true)
    }

    /// Answers. With `next`, the cursor of an answer that leaves the pull at the head of
    /// every stream it listens to (no news since, no recheck due, the same hot rooms),
    /// the subscription stays for the re-poll from `next` (`PullContinuations`).
    private func finish(_ response: HTTPResponse, continuingAt next: Cursor? = nil) {
        guard !finished else { return }
        if let next, let subscription, let relay, !again, !recheckToken, !shuttingDown,
           Set(next.hot.keys) == pull.hotRooms, let table = api.continuations(on: loop) {
            self.subscription = nil   // not unsubscribed by the cleanup
            cleanup()
            table.keep(pull.continued(at: next), subscription, relay)
        } else {
            cleanup()
        }
        responder.respond(response)
    }

    private func cleanup() {
        guard !finished else { return }
        finished = true
        if let subscription {
            relay?.target = nil
            api.engine.notifier.unsubscribe(subscription)
        }
        if let timer { loop.cancel(timer) }
        if let waitID { api.waits.remove(me.device, waitID) }
        api.polls.remove(self)
    }
}
