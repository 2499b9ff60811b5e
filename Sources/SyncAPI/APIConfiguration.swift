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
    /// Minimum gap between two `mail` notifications on one WebSocket (coalescing).
    public var notifyCoalesceInterval: Duration = .milliseconds(10)
    /// Parked pulls and open `/v1/notify` sockets per device (per node); over it the
    /// device's oldest one ends (`DeviceWaits`). 0: no cap.
    public var waitsPerDevice = 8
    /// How long an answered pull's subscription waits for the re-poll from the cursor it
    /// gave (`PullContinuations`), and a socket's page for the pull after its `mail`
    /// (`PullOffers`).
    public var pullContinuationLifetime: Duration = .seconds(2)
    /// Answered pulls' subscriptions kept for their re-polls, per event loop: past it an
    /// answered pull's subscription simply ends and its re-poll reads (memory stays bounded
    /// whatever the number of devices).
    public var pullContinuationCapacity = 20_000
    /// WebSocket keep-alive ping period; a peer silent for two periods is dropped.
    public var webSocketPingInterval: Duration = .seconds(30)

    /// Sends per device: sustained rate and burst (token bucket). 0 disables.
    public var sendRatePerSecond: Double = 20
    public var sendBurst: Double = 40
    /// Rooms created (groups and direct rooms) per device: rate and burst. 0 disables.
    public var roomRatePerSecond: Double = 1
    public var roomBurst: Double = 20
    /// Members added per device, counting those named when a group is created: rate
    /// and burst (at least `members_per_request_max`, so one full request fits). 0 disables.
    public var memberRatePerSecond: Double = 100
    public var memberBurst: Double = 10_000
    /// Inbox rows that membership changes (members added or removed) may write per room,
    /// whoever makes them: a change of a normal room writes an event into every member's
    /// inbox (a device that added and removed one user over and over in a 494-member
    /// room wrote 46,000 rows a second), one of a hot room only the changed member's. A
    /// change is charged the rows it wrote once it is done; while a room's bucket is in
    /// debt its next change waits (429). 5,000 rows/s: about ten changes a second in a
    /// 500-member room, thousands in a hot one. 0 disables.
    public var roomMembershipRowsPerSecond: Double = 5_000
    public var roomMembershipRowsBurst: Double = 50_000
    /// Failed authentications per client address before it gets 429s (token bucket).
    public var authFailureRatePerSecond: Double = 1
    public var authFailureBurst: Double = 20

    /// Offline pushes go to this `http://` URL (nil: no pushes are queued).
    public var pushWebhook: String?
    /// How often the dispatcher looks for due pushes when idle, and its HTTP timeout.
    public var pushPollInterval: Duration = .milliseconds(250)
    /// Short enough that a shutdown waiting for an in-flight delivery stays within its grace.
    public var pushTimeout: Duration = .seconds(3)

    /// The wall and monotonic clocks the engine and the rate limits run on.
    public var clocks = Clocks.system
    /// Serve the web client at `/` and `/app/` (`--no-web-client` turns it off).
    public var webClient = true

    public init(adminToken: String) { self.adminToken = adminToken }
}
