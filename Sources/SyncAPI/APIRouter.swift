import HTTPServer
import SyncEngine

/// Turns a request head into an `APIRoute`, or into the typed error that routing
/// alone answers: `404 not_found`, `405 method_not_allowed` (with `Allow`: the path's
/// methods, `HEAD` where `GET` is, and `OPTIONS`), `400 malformed_query` /
/// `malformed_path`, and `400 invalid_request` for a path id that is not one. `OPTIONS`
/// on a known path (or `*`) is answered `204` with `Allow`. Pure: no socket, no store.
struct APIRouter: Sendable {
    /// What a request head resolves to.
    enum Target: Equatable, Sendable {
        case route(APIRoute)
        /// `OPTIONS`: answer 204 with these methods in `Allow`.
        case options(allow: [HTTPMethod])
    }

    private let router: Router<Result<APIRoute, APIError>>
    /// `OPTIONS *`: every method some route has, then HEAD and OPTIONS.
    private let allMethods: [HTTPMethod]

    init() {
        let (router, methods) = APIRoute.table()
        self.router = router
        allMethods = (methods.map(\.rawValue).sorted() + ["HEAD", "OPTIONS"]).map(HTTPMethod.init)
    }

    /// The target, and the matched pattern (`/v1/rooms/{id}`) as the metrics label (nil
    /// when no route matched: the label is then "unmatched").
    func resolve(_ head: HTTPRequestHead) -> (target: Result<Target, APIError>, label: String?) {
        resolve(head.method, path: head.path, query: head.query)
    }

    func resolve(_ method: HTTPMethod, path: String, query: String? = nil) -> (target: Result<Target, APIError>, label: String?) {
        if let query, !URLEncoding.isValidQuery(query) { return (.failure(.malformedQuery), nil) }
        if method == .OPTIONS {
            if path == "*" {
                return (.success(.options(allow: allMethods)), nil)
            }
            if case .found = router.match(.OPTIONS, path) {} else {
                guard let allow = router.allowedMethods(path) else { return (.failure(.notFound), nil) }
                return (.success(.options(allow: allow)), nil)
            }
        }
        switch router.match(method, path) {
        case .found(let route, _, let pattern): return (route.map(Target.route), pattern)
        case .methodNotAllowed(let allow): return (.failure(.methodNotAllowed(method, allow: allow)), nil)
        case .notFound: return (.failure(.notFound), nil)
        case .badPath: return (.failure(.malformedPath), nil)
        }
    }

    /// The answer to `OPTIONS`: 204 with `Allow`.
    static func optionsResponse(allow: [HTTPMethod]) -> HTTPResponse {
        HTTPResponse(status: .noContent, headers: [("Allow", allow.map(\.rawValue).joined(separator: ", "))])
    }

    /// The body limit of the route a head resolves to (nil: the transport's default).
    func bodyLimit(for head: HTTPRequestHead) -> Int? { bodyLimit(method: head.method, path: head.path) }

    func bodyLimit(method: HTTPMethod, path: String) -> Int? {
        if case .found(_, let limit, _) = router.match(method, path) { return limit }
        return nil
    }
}
