/// Limits and timing of the server's WebSockets (`Responder.upgradeToWebSocket`).
public struct WebSocketConfiguration: Sendable {
    /// Largest client frame (and reassembled message); larger ones close with 1009.
    public var maxFrameBytes = 4096
    /// A ping goes out this often; a peer that sent nothing for two intervals is closed.
    public var pingInterval: Duration = .seconds(30)
    /// Above this much unsent output the peer is too slow and is closed (1008).
    public var maxBufferedBytes = 256 * 1024

    public init() {}
}
