import HTTPServer
import JSON
import SyncEngine
import WebSocket

/// `/v1/notify` (the WebSocket that tells a device "you have mail": `MailNotifier`) and
/// `/v1/notify/ticket` (a single-use ticket to open it from a browser).
struct NotifyHandlers {
    enum Route: Equatable, Sendable {
        case socket
        case ticket
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .socket: try socket(input, responder)
        case .ticket:
            try api.authenticated(input, responder) { me in ticket(me, responder) }
        }
    }

    private func ticket(_ me: Principal, _ responder: Responder) {
        api.write(responder, { try Accounts.issueSocketTicket($0, me: me) }) { ticket in
            json(.created) { w in
                w.object { w in
                    w.field("ticket", ticket)
                    w.field("expires_in_s", Accounts.socketTicketMillis / 1000)
                }
            }
        }
    }

    /// `GET /v1/notify`: authenticate, then upgrade. A device authenticates with its
    /// bearer token, or (a browser, which cannot set a header on a WebSocket) with a
    /// single-use `?ticket=` from `POST /v1/notify/ticket`. A long-lived token in the URL
    /// (`?access_token=`) is refused: URLs end up in proxy logs, and so is a ticket sent
    /// with an Authorization header (two credentials). A bad token or ticket is
    /// a plain 401, never an upgrade. The token, the hot rooms and the head are read off
    /// the loop: rooms first, then subscribe, then the head, so a commit between the two
    /// reads wakes the subscription. A request that is not a valid upgrade gets the
    /// WebSocket layer's own answer (`WebSocketHandshake`: `bad_handshake`,
    /// `upgrade_required`, `unsupported_websocket_version`), as the transport answers
    /// malformed HTTP itself.
    private func socket(_ input: RequestInput, _ responder: Responder) throws {
        if input.queryString("access_token") != nil {
            throw APIError.invalidRequest(
                "a device token in a URL is refused (URLs end up in logs): send it as Authorization: Bearer, or open the socket with ?ticket= from POST /v1/notify/ticket")
        }
        let address = input.request.remoteAddress
        guard let ticket = input.queryString("ticket") else {
            return try api.authenticated(token: input.bearerToken, address: address, responder) { me in
                upgrade(me, input, responder)
            }
        }
        // One credential per request (RFC 6750, section 2): a ticket with a bearer token
        // is refused whichever of the two is right, before the ticket is spent. (Another
        // scheme, a proxy's Basic login say, is not a credential of ours.)
        if let auth = input.request.headers["authorization"], auth.lowercased().hasPrefix("bearer") {
            throw APIError.invalidRequest(
                "send one credential: ?ticket= (from POST /v1/notify/ticket) or Authorization: Bearer, not both")
        }
        // A ticket is spent by its first use: the handshake is checked before that.
        if case .reject(let response) = WebSocketHandshake.validate(input.request.head) { return responder.respond(response) }
        api.engine.write({ try Accounts.redeemSocketTicket($0, ticket: ticket) }) { [api] result in
            api.resumeAuthenticated(result, address: address, responder) { me in upgrade(me, input, responder) }
        }
    }

    private func upgrade(_ me: Principal, _ input: RequestInput, _ responder: Responder) {
        let acceptKey: String
        switch WebSocketHandshake.validate(input.request.head) {
        case .reject(let response): return responder.respond(response)
        case .accept(let key): acceptKey = key
        }
        let loop = responder.loop
        api.engine.hotRooms(of: me.user) { rooms in
            loop.execute {
                switch rooms {
                case .failure(let error): responder.respond(api.errorResponse(error))
                case .success(let rooms): subscribeAndUpgrade(me, rooms: rooms, acceptKey: acceptKey, responder)
                }
            }
        }
    }

    private func subscribeAndUpgrade(_ me: Principal, rooms: Set<RoomID>, acceptKey: String, _ responder: Responder) {
        let api = self.api
        let loop = responder.loop
        let mail = MailNotifier(user: me.user, device: me.device, engine: api.engine, loop: loop, lane: api.lane(loop),
                                interval: api.config.notifyCoalesceInterval, offers: api.offers)
        mail.subscribe(rooms: rooms)
        var configured = WebSocketConfiguration()
        configured.pingInterval = api.config.webSocketPingInterval
        let wsConfig = configured
        api.engine.head(of: me.user) { head in
            loop.execute {
                switch head {
                case .success(let head?):
                    guard let ws = responder.upgradeToWebSocket(acceptKey: acceptKey, delegate: mail, configuration: wsConfig) else {
                        return mail.cancel()
                    }
                    mail.start(ws, head: head, waits: api.waits)
                case .success(nil):
                    // Not asked to check the device: never nil.
                    mail.cancel()
                    responder.respond(api.errorResponse(APIError.unexpected(detail: "notify: head of user \(me.user) read as revoked without a device check")))
                case .failure(let error):
                    mail.cancel()
                    responder.respond(api.errorResponse(error))
                }
            }
        }
    }
}
