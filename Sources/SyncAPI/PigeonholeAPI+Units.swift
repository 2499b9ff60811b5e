import HTTPServer
import SyncEngine

/// Reads and writes for handlers: a unit of work goes to the engine (never run on the
/// loop), and its outcome comes back as a response, rendered by `render` or, for a
/// failure, by the one error mapping.
extension PigeonholeAPI {
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

    /// Submits a write; renders its result back on the request's loop (never on the
    /// writer thread, which must get back to committing). `rows`, if given, is told the
    /// inbox rows the unit wrote.
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
}
