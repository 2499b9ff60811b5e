/// Callbacks of an upgraded connection. All run on the connection's loop.
public protocol WebSocketDelegate: AnyObject {
    func webSocket(_ ws: WebSocket, didReceiveText text: String)
    /// Everything queued has been written (send the next coalesced update now).
    func webSocketDidDrain(_ ws: WebSocket)
    /// The connection is gone (close handshake, protocol error, dead peer, shutdown).
    func webSocketDidClose(_ ws: WebSocket)
}

extension WebSocketDelegate {
    public func webSocket(_ ws: WebSocket, didReceiveText text: String) {}
    public func webSocketDidDrain(_ ws: WebSocket) {}
}
