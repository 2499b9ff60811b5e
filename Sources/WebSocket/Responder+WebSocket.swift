import HTTPServer

extension Responder {
    /// Switches the connection to WebSocket with a `101` (after `WebSocketHandshake.validate`
    /// gave `acceptKey`). Returns nil if the client already went away. Loop thread only.
    ///
    /// Frames the client sent behind its request are processed before this returns: the
    /// delegate may hear of them, even of the socket's end, first.
    public func upgradeToWebSocket(acceptKey: String, delegate: WebSocketDelegate,
                                   configuration: WebSocketConfiguration = WebSocketConfiguration()) -> WebSocket? {
        var socket: WebSocket?
        _ = switchProtocols(headers: [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", acceptKey)]) {
            let session = WebSocketSession(connection: $0, config: configuration, delegate: delegate)
            socket = session.handle
            return session
        }
        return socket
    }
}
