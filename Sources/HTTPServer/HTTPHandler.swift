/// What the server calls for each request. Implementations are Sendable: one instance
/// serves every loop.
public protocol HTTPHandler: Sendable {
    /// Called once the head is parsed and before any body byte is read, so a route can
    /// have a tighter limit than the transport's (and `Expect: 100-continue` can be
    /// refused with 413 without reading the body). nil means the server's default.
    func bodyLimit(for head: HTTPRequestHead) -> Int?

    /// Handles a complete request. Answer through `responder`, now or later, from any
    /// thread. Until it answers, the connection stays parked on its loop, holding no thread.
    func handle(_ request: HTTPRequest, _ responder: Responder)

    /// The server is shutting down: answer parked requests now if you can.
    func shutdownRequested()

    /// A response went out (or a WebSocket upgrade, status 101): for metrics. Runs on
    /// the connection's loop; keep it cheap.
    /// `label` is what the handler gave `Responder.setLabel` (e.g. the route pattern).
    /// Only the method is kept of the request's head while it waits for its answer.
    func requestCompleted(method: HTTPMethod, label: String?, status: Int, nanos: UInt64)
}

extension HTTPHandler {
    public func bodyLimit(for head: HTTPRequestHead) -> Int? { nil }
    public func shutdownRequested() {}
    public func requestCompleted(method: HTTPMethod, label: String?, status: Int, nanos: UInt64) {}
}
