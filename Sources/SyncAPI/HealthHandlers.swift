import HTTPServer
import JSON
import Sockets
import SyncEngine

/// `/healthz`, `/v1/limits`, `/metrics`: what a load balancer, a client and an operator
/// ask about the server itself.
struct HealthHandlers {
    enum Route: Equatable, Sendable {
        case healthz
        case limits
        case metrics
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .healthz: health(responder)
        case .limits: responder.respond(limits())
        case .metrics: try metrics(input, responder)
        }
    }

    /// Liveness with a database round trip, made at most once per `healthInterval`: an
    /// unauthenticated endpoint must not turn a flood of requests into a flood of read
    /// transactions (each takes the WAL read locks, fcntl calls). A failure is never
    /// reused: the next request checks again. The round trip runs off the loop.
    private func health(_ responder: Responder) {
        let ok = json(.ok) { w in w.object { w in w.field("status", "ok") } }
        let now = MonotonicClock.now()
        if now &- api.lastHealthyAt.load(ordering: .relaxed) < PigeonholeAPI.healthInterval { return responder.respond(ok) }
        api.engine.store.ping { [api] result in
            let response: HTTPResponse
            switch result {
            case .success:
                api.lastHealthyAt.store(now, ordering: .relaxed)
                response = ok
            case .failure:
                response = api.errorResponse(APIError.healthCheckFailed)
            }
            responder.loop.execute { responder.respond(response) }
        }
    }

    /// Admin token; the outbox depth is read only with a push webhook.
    private func metrics(_ input: RequestInput, _ responder: Responder) throws {
        try api.requireAdmin(input)
        var gauged = api.gauges.withLock { $0 }?() ?? Metrics.Gauges()
        gauged.parkedPolls = api.polls.count
        gauged.pullsFromNews = api.pulls.answeredAtOnce.count
        gauged.pullsFromOffers = api.offers.answered.count
        gauged.pullsFromContinuations = api.adoptedContinuations.count
        guard api.config.pushWebhook != nil else { return responder.respond(renderMetrics(gauged)) }
        let measured = gauged
        api.read(responder, { try PushOutbox.depth($0.store) }) { [self] depth in
            var g = measured
            g.outboxDepth = depth
            return renderMetrics(g)
        }
    }

    private func renderMetrics(_ g: Metrics.Gauges) -> HTTPResponse {
        HTTPResponse(status: .ok, body: Array(api.metrics.render(engine: api.engine, gauges: g).utf8),
                     contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    private func limits() -> HTTPResponse {
        let e = api.engine.config
        let config = api.config
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
