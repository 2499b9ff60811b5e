import HTTPServer
import SyncEngine

/// Limits and settings of the HTTP API, published by `GET /v1/limits`.
public struct APIConfiguration: Sendable {
    /// Long-poll wait when the client gives no `timeout` (seconds).
    public var defaultPollTimeout = 30
    /// Longer waits are clamped to this, so NAT boxes and proxies do not cut the request.
    public var maxPollTimeout = 55
    public var adminToken: String
    public var engine = EngineConfiguration()

    public init(adminToken: String) { self.adminToken = adminToken }
}
