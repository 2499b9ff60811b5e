import HTTPServer
import SyncEngine

/// Who is asking: a device token (resolved off the loop, or from the recent-principals
/// cache), or the admin token; and the per-address limit on wrong tokens.
extension PigeonholeAPI {
    /// Resolves the request's device token (a read off the loop), then runs `then` on the
    /// request's loop; whatever it throws becomes the answer.
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

    /// The admin token, compared in constant time.
    func requireAdmin(_ input: RequestInput) throws(APIError) {
        guard let token = input.bearerToken else { throw .adminUnauthorized }
        // Hash both sides so the comparison takes the same time whatever the length.
        guard Tokens.constantTimeEquals(Tokens.hash(token), adminTokenHash) else {
            // Only a presented, wrong token counts as a guess.
            if let ms = authFailures.take(input.request.remoteAddress) {
                throw .rateLimited(ms: ms, what: "failed authentications from this address")
            }
            throw .adminUnauthorized
        }
    }
}
