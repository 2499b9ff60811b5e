/// The protocol a connection speaks after `101 Switching Protocols` (RFC 9110 §7.8,
/// §15.2.2), as the connection sees it. The same socket and input buffer switch codec,
/// so bytes the client sent right behind the upgrade request are not lost (as FlyingFox
/// does it). The WebSocket layer implements it; the HTTP server knows nothing of frames.
///
/// Built by `Responder.switchProtocols`, with the `UpgradedConnection` it reads from and
/// writes to. Every call runs on the connection's loop.
package protocol UpgradeHandler: AnyObject {
    /// Input is buffered (`UpgradedConnection.withInput`): consume what can be, within
    /// the connection's work budget (`UpgradedConnection.takeWorkUnit`).
    func processInput()

    /// Everything queued was written. Returns true when it queued more that must go
    /// out first (the connection flushes again, and calls this again once drained).
    func outputDrained() -> Bool

    /// The server is shutting down and this connection is not idle: end it politely.
    func serverDraining()

    /// The connection is closed (by either side, a timeout or the server).
    func connectionClosed()
}
