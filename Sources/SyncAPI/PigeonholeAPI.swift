import HTTPServer
import JSON
import Synchronization
import SyncEngine

/// The HTTP face of the engine: authenticates, decodes, calls the engine, encodes.
/// Thin on purpose: every rule lives in SyncEngine; every error becomes a response in
/// APIError, and nowhere else.
public final class PigeonholeAPI: HTTPHandler {
    let engine: SyncEngine
    /// One Notifier lane per event loop (index = loop index), set once the loops exist.
    let lanes = Mutex<[Notifier.Lane]>([])
    /// Parked pulls of one user at one position share one read (see `SharedPulls`).
    let pulls: SharedPulls
    /// Parked pulls and sockets per device, capped.
    let waits: DeviceWaits
    let router = APIRoute.makeRouter()
    let config: APIConfiguration
    let adminTokenHash: [UInt8]
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

    public func shutdownRequested() { polls.finishAll() }

    public func requestCompleted(_ head: HTTPRequestHead, label: String?, status: Int, nanos: UInt64) {
        metrics.observe(route: label ?? "unmatched", method: head.method.rawValue, status: status, nanos: nanos)
    }

    public func handle(_ request: HTTPRequest, _ responder: Responder) {
        if config.webClient, let (file, label) = WebClient.shared.respond(to: request.head) {
            responder.setLabel(label)
            return answer(responder) { responder.respond(try file.get()) }
        }
        let route: APIRoute
        let (resolution, label) = router.resolveLabeled(request.head)
        if let label { responder.setLabel(label) }
        switch resolution {
        case .response(let r): return responder.respond(r)
        case .route(let r): route = r
        }
        answer(responder) { try dispatch(route, RequestInput(request: request), responder) }
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
    func lane(_ loop: EventLoop) -> Notifier.Lane? {
        lanes.withLock { $0.indices.contains(loop.index) ? $0[loop.index] : nil }
    }

    private func dispatch(_ route: APIRoute, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .healthz: return health(responder)
        case .sync: return try startPull(input, responder)   // authenticates in its own first read
        case .limits: return responder.respond(limits())
        case .badID(let what): throw APIError.badID(what: what)
        case .notify: return try startNotify(input, responder)
        case .metrics:
            try requireAdmin(input)
            var gauged = gauges.withLock { $0 }?() ?? Metrics.Gauges()
            gauged.parkedPolls = polls.count
            guard config.pushWebhook != nil else { return responder.respond(renderMetrics(gauged)) }
            let measured = gauged
            return read(responder, { try PushOutbox.depth($0.store) }) { [self] depth in
                var g = measured
                g.outboxDepth = depth
                return renderMetrics(g)
            }
        case .adminCreateUser, .adminListDevices, .adminCreateDevice, .adminRevokeDevice, .adminPushes:
            try requireAdmin(input)
            return try admin(route, input, responder)
        case .me:
            return try authedRead(input, responder, { _, me in me }) { me in
                json(.ok) { w in
                    w.object { w in
                        w.key("user"); w.object { w in w.field("id", me.user.rawValue); w.field("name", me.userName) }
                        w.key("device"); w.object { w in w.field("id", me.device.rawValue); w.field("name", me.deviceName) }
                    }
                }
            }
        case .getRoom(let id):
            return try authedRead(input, responder, { ctx, me in try Rooms.get(ctx, me: me.user, room: id) }) { room, peer in
                json(.ok) { Encode.room(room, peer: peer, &$0) }
            }
        case .listMembers(let id):
            let limit = try input.queryInt("limit", default: engine.config.defaultMemberLimit, range: 1...engine.config.maxMemberLimit)!
            let after = input.queryString("after")
            if let after, after.utf8.count > 256 { throw APIError.invalid("after", "at most 256 bytes (a user name)") }
            return try authedRead(input, responder, { ctx, me in
                try Rooms.members(ctx, me: me.user, room: id, after: after, limit: limit)
            }) { page in
                json(.ok) { w in
                    w.object { w in
                        w.key("members"); w.array { w in for m in page.members { Encode.member(m, &w) } }
                        if let next = page.nextAfter { w.field("next_after", next) }
                    }
                }
            }
        case .history(let id):
            let before = try input.queryInt("before", default: nil, range: 1...Int.max).map(Int64.init)
            let limit = try input.queryInt("limit", default: engine.config.defaultHistoryLimit, range: 1...engine.config.maxHistoryLimit)!
            return try authedRead(input, responder, { ctx, me in
                try Messages.history(ctx, me: me.user, room: id, before: before, limit: limit)
            }) { page in
                json(.ok) { w in
                    w.object { w in
                        w.key("messages"); w.array { w in for m in page.messages { Encode.message(m, &w) } }
                        if let nb = page.nextBefore { w.field("next_before", nb) }
                    }
                }
            }
        case .receipts(let id):
            guard let seq = try input.queryInt("seq", default: nil, range: 1...Int.max) else {
                throw APIError.invalid("seq", "is required")
            }
            return try authedRead(input, responder, { ctx, me in
                try Receipts.count(ctx, me: me.user, room: id, seq: Int64(seq))
            }) { c in
                json(.ok) { w in
                    w.object { w in
                        w.field("room_id", c.room.rawValue)
                        w.field("seq", c.seq)
                        w.field("sender", c.sender)
                        w.field("read_count", c.readCount)
                        if let readers = c.readers {
                            w.key("readers")
                            w.array { w in for r in readers { w.string(r) } }
                        }
                    }
                }
            }
        case .conversations:
            let limit = try input.queryInt("limit", default: engine.config.defaultConversationLimit,
                                           range: 1...engine.config.maxConversationLimit)!
            let preview = try input.queryInt("preview", default: 3, range: 0...engine.config.maxPreview)!
            let pageToken = input.queryString("page")
            return try authedRead(input, responder, { ctx, me in
                try Conversations.list(ctx, me: me.user, limit: limit, preview: preview, page: pageToken)
            }) { page in
                json(.ok) { Encode.conversations(page, &$0) }
            }
        case .unread:
            return try authedRead(input, responder, { ctx, me in try Conversations.unread(ctx, me: me.user) }) { total, rooms in
                json(.ok) { w in
                    w.object { w in
                        w.field("total", total)
                        w.key("rooms")
                        w.array { w in
                            for (room, n) in rooms { w.object { w in w.field("room_id", room.rawValue); w.field("unread", n) } }
                        }
                    }
                }
            }
        case .direct, .createRoom, .addMembers, .removeMember, .send, .markRead, .ack, .notifyTicket:
            // Writes: the token is read first (a read off the loop), then the request
            // is decoded and its unit submitted, back on the loop.
            return try authenticated(input, responder) { [self] me in try writeRoute(route, input, responder, me) }
        }
    }

    /// The routes that write, once the device is known.
    private func writeRoute(_ route: APIRoute, _ input: RequestInput, _ responder: Responder, _ me: Principal) throws {
        switch route {
        case .direct(let other):
            try takeRoomWrite(me.device, rooms: 1, members: 0)
            write(responder, { try Rooms.direct($0, me: me, otherName: other) }) { room, created in
                json(created ? .created : .ok) { Encode.room(room, peer: other, &$0) }
            }
        case .createRoom:
            let body = try input.object()
            let name = try RequestInput.string(body, "name")
            let members = try RequestInput.optionalStringArray(body, "members")
            try checkMemberCount(members)
            try takeRoomWrite(me.device, rooms: 1, members: members.count)
            write(responder, { try Rooms.createGroup($0, me: me, name: name, memberNames: members) }) { room in
                json(.created) { Encode.room(room, peer: nil, &$0) }
            }
        case .addMembers(let id):
            let names = try RequestInput.optionalStringArray(try input.object(), "members")
            guard !names.isEmpty else { throw APIError.invalid("members", "must name at least one user") }
            try checkMemberCount(names)
            try takeMembershipChange(me.device, room: id, count: names.count)
            write(responder, room: id, rows: { [self] in membershipLimiter.charge(id, cost: Double($0)) }, { try Rooms.addMembers($0, me: me, room: id, names: names) }) { added in
                json(.ok) { w in w.object { w in w.key("added"); w.array { w in for m in added { Encode.member(m, &w) } } } }
            }
        case .removeMember(let id, let name):
            // A removal writes as many rows as an add: it counts against the same buckets.
            try takeMembershipChange(me.device, room: id, count: 1)
            write(responder, room: id, rows: { [self] in membershipLimiter.charge(id, cost: Double($0)) }, { try Rooms.removeMember($0, me: me, room: id, name: name) }) { _ in
                HTTPResponse(status: .noContent)
            }
        case .send(let id):
            if let ms = sendLimiter.take(me.device) { throw APIError.rateLimited(ms: ms, what: "messages from this device") }
            let body = try input.object()
            let clientMsgID = try RequestInput.string(body, "client_msg_id")
            guard let value = body["body"] else { throw APIError.invalid("body", "is required") }
            let text = value.serializedString
            let limit = engine.config.maxMessageBodyBytes
            write(responder, room: id, { try Messages.send($0, me: me, room: id, clientMsgID: clientMsgID, body: text, maxBodyBytes: limit) }) { r in
                json(r.duplicate ? .ok : .created) { w in
                    Encode.message(r.message, &w) { $0.field("duplicate", r.duplicate) }
                }
            }
        case .markRead(let id):
            let seq = try RequestInput.int(try input.object(), "seq")
            write(responder, room: id, { try Conversations.markRead($0, me: me, room: id, seq: seq) }) { readSeq in
                json(.ok) { w in w.object { w in w.field("room_id", id.rawValue); w.field("read_seq", readSeq) } }
            }
        case .notifyTicket:
            write(responder, { try Accounts.issueSocketTicket($0, me: me) }) { ticket in
                json(.created) { w in
                    w.object { w in
                        w.field("ticket", ticket)
                        w.field("expires_in_s", Accounts.socketTicketMillis / 1000)
                    }
                }
            }
        case .ack:
            let cursor = try RequestInput.string(try input.object(), "cursor")
            write(responder, { try Stream.ack($0, device: me.device, user: me.user, cursor: cursor) }) { _ in
                HTTPResponse(status: .noContent)
            }
        default:
            preconditionFailure("not a write route: \(route)")
        }
    }

    // MARK: helpers

    /// Takes from the device's room and member buckets, both or neither: a limited
    /// request stores nothing and costs nothing, and is resent after `Retry-After`.
    /// Taken before the write (like sends), so refused and repeated requests count too.
    private func takeRoomWrite(_ device: DeviceID, rooms: Int, members: Int) throws(APIError) {
        if rooms > 0, let ms = roomLimiter.check(device, cost: Double(rooms)) {
            throw APIError.rateLimited(ms: ms, what: "rooms created from this device")
        }
        if members > 0, let ms = memberLimiter.take(device, cost: Double(members)) {
            throw APIError.rateLimited(ms: ms, what: "members added from this device")
        }
        if rooms > 0, let ms = roomLimiter.take(device, cost: Double(rooms)) {
            throw APIError.rateLimited(ms: ms, what: "rooms created from this device")
        }
    }

    /// Runs `body` in one snapshot off the loop and answers with `render`'s response
    /// (rendered on the read thread, sent on the request's loop), or the error's.
    func read<T: Sendable>(_ responder: Responder, _ body: @escaping @Sendable (ReadContext) throws -> T,
                           _ render: @escaping @Sendable (T) -> HTTPResponse) {
        engine.read(body) { [self] result in
            let response: HTTPResponse
            switch result {
            case .success(let value): response = render(value)
            case .failure(let error): response = errorResponse(error)
            }
            responder.loop.execute { responder.respond(response) }
        }
    }

    /// The request's device token checked and `body` read in the same snapshot: one read
    /// for an authenticated GET. A bad token answers 401 and counts against the address.
    func authedRead<T: Sendable>(_ input: RequestInput, _ responder: Responder,
                                 _ body: @escaping @Sendable (ReadContext, Principal) throws -> T,
                                 _ render: @escaping @Sendable (T) -> HTTPResponse) throws {
        let address = input.request.remoteAddress
        guard let token = input.bearerToken else { throw APIError.unauthorized }
        read(responder, { ctx -> T? in
            guard let me = try Accounts.authenticate(ctx.store, token: token) else { return nil }
            return try body(ctx, me)
        }) { [self] value in
            guard let value else { return errorResponse(authenticationFailed(address)) }
            return render(value)
        }
    }

    /// Resolves the request's device token (a read off the loop), then runs `then` on the
    /// request's loop; whatever it throws becomes the answer.
    /// Members added to or removed from an existing room: refused while the room's
    /// membership bucket is in debt (the rows are charged once the change is done),
    /// else taken from the device's member bucket.
    private func takeMembershipChange(_ device: DeviceID, room: RoomID, count: Int) throws(APIError) {
        if let ms = membershipLimiter.check(room, cost: 0) {
            throw APIError.rateLimited(ms: ms, what: "membership changes in this room")
        }
        try takeRoomWrite(device, rooms: 0, members: count)
    }

    func authenticated(_ input: RequestInput, _ responder: Responder,
                       _ then: @escaping @Sendable (Principal) throws -> Void) throws {
        try authenticated(token: input.bearerToken, address: input.request.remoteAddress, responder, then)
    }

    /// An address that keeps presenting bad tokens is slowed down with 429s (checked
    /// before the token, so guessing gains nothing).
    func authenticated(token: String?, address: String, _ responder: Responder,
                       _ then: @escaping @Sendable (Principal) throws -> Void) throws {
        guard let token else { throw APIError.unauthorized }
        guard let hash = SyncEngine.tokenHash(token) else { throw authenticationFailed(address) }
        // A token resolved recently and not revoked since needs no read (PrincipalCache).
        if let me = engine.cachedPrincipal(tokenHash: hash) { return try then(me) }
        engine.authenticate(tokenHash: hash) { [self] result in resumeAuthenticated(result, address: address, responder, then) }
    }

    /// Back on the request's loop with a lookup's outcome (a token, a socket ticket): runs
    /// `then` for a principal; nil is a failed authentication; whatever is thrown is the answer.
    func resumeAuthenticated(_ result: Result<Principal?, SyncError>, address: String, _ responder: Responder,
                             _ then: @escaping @Sendable (Principal) throws -> Void) {
        responder.loop.execute { [self] in
            answer(responder) {
                switch result {
                case .success(let me?): try then(me)
                case .success(nil): throw authenticationFailed(address)
                case .failure(let error): throw error
                }
            }
        }
    }

    /// A presented token that is unknown or revoked: 401, charged to the address; an
    /// address over its failed-authentication limit gets 429 instead (guessing slows
    /// down). A valid token is never refused for failures of others at its address (a
    /// NAT, a proxy): the limit is applied only after the lookup failed.
    func authenticationFailed(_ address: String) -> APIError {
        if let ms = authFailures.take(address) { return .rateLimited(ms: ms, what: "failed authentications from this address") }
        return .unauthorized
    }

    private func requireAdmin(_ input: RequestInput) throws(APIError) {
        guard let token = input.bearerToken else { throw APIError.adminUnauthorized }
        // Hash both sides so the comparison takes the same time whatever the length.
        guard Tokens.constantTimeEquals(Tokens.hash(token), adminTokenHash) else {
            // Only a presented, wrong token counts as a guess.
            if let ms = authFailures.take(input.request.remoteAddress) {
                throw APIError.rateLimited(ms: ms, what: "failed authentications from this address")
            }
            throw APIError.adminUnauthorized
        }
    }

    private func checkMemberCount(_ names: [String]) throws(APIError) {
        let max = engine.config.maxRoomMembersPerRequest
        guard names.count <= max else { throw APIError.invalid("members", "at most \(max) per request") }
    }

    /// Submits a write; renders its result back on the request's loop (never on the
    /// writer thread, which must get back to committing).
    func write<T: Sendable>(_ responder: Responder, room: RoomID? = nil, rows: (@Sendable (Int) -> Void)? = nil,
                            _ body: @escaping @Sendable (WriteContext) throws -> T,
                            _ render: @escaping @Sendable (T) -> HTTPResponse) {
        engine.write(room: room, rowsWritten: rows, body) { [self] result in
            responder.loop.execute { [self] in
                switch result {
                case .success(let value): responder.respond(render(value))
                case .failure(let error): responder.respond(errorResponse(error))
                }
            }
        }
    }

    /// Liveness with a database round trip, made at most once per `healthInterval`: an
    /// unauthenticated endpoint must not turn a flood of requests into a flood of read
    /// transactions (each takes the WAL read locks, fcntl calls). A failure is never
    /// reused: the next request checks again. The round trip runs off the loop.
    private func health(_ responder: Responder) {
        let ok = json(.ok) { w in w.object { w in w.field("status", "ok") } }
        let now = MonotonicClock.now()
        if now &- lastHealthyAt.load(ordering: .relaxed) < Self.healthInterval { return responder.respond(ok) }
        engine.store.ping { [self] result in
            let response: HTTPResponse
            switch result {
            case .success:
                lastHealthyAt.store(now, ordering: .relaxed)
                response = ok
            case .failure:
                response = errorResponse(APIError.healthCheckFailed)
            }
            responder.loop.execute { responder.respond(response) }
        }
    }

    private func renderMetrics(_ g: Metrics.Gauges) -> HTTPResponse {
        HTTPResponse(status: .ok, body: Array(metrics.render(engine: engine, gauges: g).utf8),
                     contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    private func limits() -> HTTPResponse {
        let e = engine.config
        return json(.ok) { w in
            w.object { w in
                w.field("poll_timeout_default_s", config.defaultPollTimeout)
                w.field("poll_timeout_max_s", config.maxPollTimeout)
                w.field("pull_limit_default", e.defaultPullLimit)
                w.field("pull_limit_max", e.maxPullLimit)
                w.field("history_limit_default", e.defaultHistoryLimit)
                w.field("history_limit_max", e.maxHistoryLimit)
                w.field("conversations_limit_default", e.defaultConversationLimit)
                w.field("conversations_limit_max", e.maxConversationLimit)
                w.field("preview_max", e.maxPreview)
                w.field("rooms_per_user_max", e.maxRoomsPerUser)
                w.field("members_limit_default", e.defaultMemberLimit)
                w.field("members_limit_max", e.maxMemberLimit)
                w.field("message_body_max_bytes", e.maxMessageBodyBytes)
                w.field("request_body_max_bytes", APIRoute.smallBody)
                w.field("client_msg_id_max_chars", 64)
                w.field("members_per_request_max", e.maxRoomMembersPerRequest)
                w.field("send_rate_per_second", Int64(config.sendRatePerSecond))
                w.field("send_burst", Int64(config.sendBurst))
                w.field("room_rate_per_second", Int64(config.roomRatePerSecond))
                w.field("room_burst", Int64(config.roomBurst))
                w.field("member_rate_per_second", Int64(config.memberRatePerSecond))
                w.field("member_burst", Int64(config.memberBurst))
                w.field("room_membership_rows_per_second", Int64(config.roomMembershipRowsPerSecond))
                w.field("room_membership_rows_burst", Int64(config.roomMembershipRowsBurst))
                w.field("page_max_bytes", e.maxPageBytes)
                w.field("waits_per_device_max", config.waitsPerDevice)
            }
        }
    }
}
