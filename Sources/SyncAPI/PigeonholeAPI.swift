import HTTPServer
import Synchronization
import SyncEngine
import Sockets
import Logging

/// The HTTP face of the engine: authenticates, decodes, calls the engine, encodes.
/// Thin on purpose: every rule lives in SyncEngine. A request is routed once
/// (`APIRouter`: a typed `APIRoute`), served by its resource's handlers
/// (`RoomHandlers`, `SyncHandlers`, ...), and every error becomes a response in
/// `APIError.response(for:log:)`, and nowhere else.
public final class PigeonholeAPI: HTTPHandler {
    let engine: SyncEngine
    /// One Notifier lane per event loop (index = loop index), set once the loops exist.
    /// What each event loop holds of its own (index = loop index), set once the loops
    /// exist: its Notifier lane, its pull continuations, its hot-room wake checks.
    let perLoop = Mutex<[LoopParts]>([])
    struct LoopParts {
        let lane: Notifier.Lane
        let continuations: PullContinuations
        let hotWakes: HotWakeChecks
    }
    /// Re-polls that parked on a continuation, and hot-room wake checks read, over every loop.
    let adoptedContinuations = Counter()
    let hotWakeReads = Counter()
    /// Parked pulls of one user at one position share one read (see `SharedPulls`).
    let pulls: SharedPulls
    /// Pages `/v1/notify` sockets vouch for: a pull after `mail` needs no read (`PullOffers`).
    let offers: PullOffers
    /// Parked pulls and sockets per device, capped.
    let waits: DeviceWaits
    let router = APIRouter()
    let config: APIConfiguration
    let adminTokenHash: [UInt8]
    /// Unexpected errors are logged here (`APIError.unexpected`).
    let log: Logger
    let polls = PollRegistry()
    let metrics = Metrics()
    /// Gauges only the server (which owns the HTTP server) can read; set once it exists.
    let gauges = Mutex<(@Sendable () -> Metrics.Gauges)?>(nil)
    let sendLimiter: RateLimiter<DeviceID>
    /// When /healthz last read the database successfully (MonotonicClock ns).
    let lastHealthyAt = Atomic<UInt64>(0)
    static let healthInterval: UInt64 = 100_000_000
    let authFailures: RateLimiter<String>
    /// Room creations and member adds per device (one device filled every victim's
    /// conversation list with 365 rooms of 400 members in five seconds).
    let roomLimiter: RateLimiter<DeviceID>
    let memberLimiter: RateLimiter<DeviceID>
    /// Inbox rows written by membership changes per room (adds and removals), whoever
    /// makes them; charged after each change.
    let membershipLimiter: RateLimiter<RoomID>

    init(engine: SyncEngine, config: APIConfiguration, log: Logger) {
        self.engine = engine
        self.pulls = SharedPulls(engine: engine)
        self.waits = DeviceWaits(cap: config.waitsPerDevice)
        self.offers = PullOffers(lifetime: config.pullContinuationLifetime)
        self.config = config
        let clock = config.clocks.monotonicNanos
        self.sendLimiter = RateLimiter(ratePerSecond: config.sendRatePerSecond, burst: config.sendBurst, clock: clock)
        self.authFailures = RateLimiter(ratePerSecond: config.authFailureRatePerSecond, burst: config.authFailureBurst, clock: clock)
        self.roomLimiter = RateLimiter(ratePerSecond: config.roomRatePerSecond, burst: config.roomBurst, clock: clock)
        self.memberLimiter = RateLimiter(ratePerSecond: config.memberRatePerSecond, burst: config.memberBurst, clock: clock)
        self.membershipLimiter = RateLimiter(ratePerSecond: config.roomMembershipRowsPerSecond,
                                             burst: config.roomMembershipRowsBurst, clock: clock)
        self.adminTokenHash = Tokens.hash(config.adminToken)
        self.log = log
    }

    public func bodyLimit(for head: HTTPRequestHead) -> Int? { router.bodyLimit(for: head) }

    public func shutdownRequested() {
        polls.finishAll()
        for parts in perLoop.withLock({ $0 }) {
            let table = parts.continuations
            table.loop.execute { table.dropAll() }
        }
    }

    public func requestCompleted(method: HTTPMethod, label: String?, status: Int, nanos: UInt64) {
        metrics.observe(route: label ?? "unmatched", method: method.rawValue, status: status, nanos: nanos)
    }

    public func handle(_ request: HTTPRequest, _ responder: Responder) {
        if config.webClient, let (file, label) = WebClient.shared.respond(to: request.head) {
            responder.setLabel(label)
            return answer(responder) { responder.respond(try file.get()) }
        }
        let (target, label) = router.resolve(request.head)
        if let label { responder.setLabel(label) }
        answer(responder) { [self] in
            switch try target.get() {
            case .options(let allow):
                responder.respond(APIRouter.optionsResponse(allow: allow))
            case .route(let route):
                try dispatch(route, RequestInput(request: request), responder)
            }
        }
    }

    /// One handler per resource; each owns its group of routes.
    private func dispatch(_ route: APIRoute, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .health(let r): try HealthHandlers(api: self).handle(r, input, responder)
        case .account(let r): try AccountHandlers(api: self).handle(r, input, responder)
        case .admin(let r): try AdminHandlers(api: self).handle(r, input, responder)
        case .rooms(let r): try RoomHandlers(api: self).handle(r, input, responder)
        case .members(let r): try MemberHandlers(api: self).handle(r, input, responder)
        case .messages(let r): try MessageHandlers(api: self).handle(r, input, responder)
        case .messageChanges(let r): try MessageChangeHandlers(api: self).handle(r, input, responder)
        case .conversations(let r): try ConversationHandlers(api: self).handle(r, input, responder)
        case .sync(let r): try SyncHandlers(api: self).handle(r, input, responder)
        case .notify(let r): try NotifyHandlers(api: self).handle(r, input, responder)
        }
    }

    /// Runs `body`; whatever it throws is the answer.
    func answer(_ responder: Responder, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            responder.respond(errorResponse(error))
        }
    }

    /// Every error a handler throws or a read or write completes with becomes its
    /// response through here (`APIError.response(for:log:)`).
    func errorResponse(_ error: any Error) -> HTTPResponse {
        APIError.response(for: error, log: log)
    }

    /// The Notifier lane of `loop`: subscribers told there run on that loop.
    func lane(_ loop: EventLoop) -> Notifier.Lane? { parts(loop)?.lane }

    /// The hot-room wake checks of `loop` (`HotWakeChecks`: touch them only on it).
    func hotWakes(on loop: EventLoop) -> HotWakeChecks? { parts(loop)?.hotWakes }

    /// The pull continuations of `loop` (`PullContinuations`: touch them only on it).
    func continuations(on loop: EventLoop) -> PullContinuations? { parts(loop)?.continuations }

    private func parts(_ loop: EventLoop) -> LoopParts? {
        perLoop.withLock { $0.indices.contains(loop.index) ? $0[loop.index] : nil }
    }
}
