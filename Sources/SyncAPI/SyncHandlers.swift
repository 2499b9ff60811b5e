import HTTPServer
import JSON
import SyncEngine

/// `/v1/sync` (pull, long-polling when there is nothing new: `LongPoll`) and
/// `/v1/sync/ack` (move the device's acked cursor forward).
struct SyncHandlers {
    enum Route: Equatable, Sendable {
        case pull
        case ack
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .pull: try pull(input, responder)   // authenticates in its own first read
        case .ack:
            try api.authenticated(input, responder) { me in try ack(input, me, responder) }
        }
    }

    /// `GET /v1/sync?cursor=&timeout=&limit=&per_room_limit=`: parameters first (a bad
    /// one costs no database read), then the engine's start (a read off the loop, which
    /// also reads the page when the cursor is behind: answered from there), else park on
    /// the request's loop.
    private func pull(_ input: RequestInput, _ responder: Responder) throws {
        let api = self.api
        let config = api.engine.config
        let address = input.request.remoteAddress
        let limit = try input.queryInt("limit", default: config.defaultPullLimit, range: 1...config.maxPullLimit)!
        let perRoom = try input.queryInt("per_room_limit", default: nil, range: 1...1000)
        // Over the maximum is clamped, not rejected: clients may ask for "as long as you can".
        let requested = try input.queryInt("timeout", default: api.config.defaultPollTimeout, range: 0...Int(Int32.max))!
        let timeout = Duration.seconds(min(requested, api.config.maxPollTimeout))
        guard let token = input.bearerToken else { throw APIError.unauthorized }
        let cursor = input.queryString("cursor")
        let hash = SyncEngine.tokenHash(token)
        // Two pulls need no read (the token from the cache, never past a revocation):
        if let cursor, let hash, let me = api.engine.cachedPrincipal(tokenHash: hash) {
            // the pull after `mail` from the head a socket knew before one message came
            // (`PullOffers`), answered with that message;
            if let offer = api.offers.offer(user: me.user, from: cursor) {
                api.engine.ackLater(device: me.device, cursor: offer.from)   // presenting a cursor acks it
                return responder.respond(api.pulls.page(offer.message, offer.to))
            }
            // the re-poll of a pull just answered at the head here, which parks on that
            // pull's subscription (`PullContinuations`).
            if timeout > .zero, let taken = api.continuations(on: responder.loop)?.take(device: me.device, cursor: cursor) {
                api.engine.ackLater(device: me.device, cursor: taken.start.from)
                return LongPoll(api: api, responder: responder, pull: taken.start, limit: limit, perRoomLimit: perRoom,
                                timeout: timeout).start(adopting: taken)
            }
        }
        api.engine.startPull(tokenHash: hash, cursor: cursor, mayWait: requested > 0,
                             page: .init(limit: limit, perRoomLimit: perRoom)) { result in
            let response: HTTPResponse
            switch result {
            case .success(.answered(_, let page)?):
                // Encoded here, on the read thread: the loop only writes it.
                response = json(.ok) { Encode.pull(page, &$0) }
            case .success(.started(let start)?):
                return responder.loop.execute {
                    LongPoll(api: api, responder: responder, pull: start, limit: limit, perRoomLimit: perRoom,
                             timeout: timeout).start()
                }
            case .success(nil): response = api.errorResponse(api.authenticationFailed(address))
            // 410 whose body already carries the first screen (as GET /v1/conversations
            // returns it) with a fresh cursor: recovery in one round trip.
            case .success(.expired(_, let page)?): response = api.errorResponse(APIError.cursorExpired(firstScreen: page))
            case .failure(let error): response = api.errorResponse(error)
            }
            responder.loop.execute { responder.respond(response) }
        }
    }

    private func ack(_ input: RequestInput, _ me: Principal, _ responder: Responder) throws {
        let cursor = try RequestInput.string(try input.object(), "cursor")
        api.write(responder, { try Stream.ack($0, device: me.device, user: me.user, cursor: cursor) }) { _ in
            HTTPResponse(status: .noContent)
        }
    }
}
