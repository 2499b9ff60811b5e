import Sockets

/// The answer channel of one request.
///
/// Confinement: `connection` is only touched on `loop`; `respond` hops there when
/// called from another thread. That is why `@unchecked Sendable` is sound.
public final class Responder: @unchecked Sendable {
    public let loop: EventLoop
    private let connection: Connection
    private let serial: UInt64

    init(loop: EventLoop, connection: Connection, serial: UInt64) {
        self.loop = loop
        self.connection = connection
        self.serial = serial
    }

    /// Sends the response. The first call wins; later calls, and calls after the client
    /// went away, are ignored. Safe from any thread.
    public func respond(_ response: HTTPResponse) {
        if loop.isCurrent {
            connection.deliver(response, serial: serial)
        } else {
            loop.execute { [self] in connection.deliver(response, serial: serial) }
        }
    }

    /// Registers `callback` to run (on the loop) if the client disconnects or the
    /// server closes the connection before this request is answered. Loop thread only.
    public func onCancel(_ callback: @escaping () -> Void) {
        connection.addCancelHandler(callback, serial: serial)
    }

    /// Answers with `101 Switching Protocols` and `headers`, and hands the connection to
    /// the handler `make` builds (the WebSocket layer's `upgradeToWebSocket` does).
    /// Returns nil if the client already went away. Loop thread only.
    package func switchProtocols<Handler: UpgradeHandler>(headers: [(name: String, value: String)],
                                                          to make: (UpgradedConnection) -> Handler) -> Handler? {
        connection.upgrade(serial: serial, headers: headers, to: make)
    }

    /// Labels this request for `HTTPHandler.requestCompleted` (metrics). Loop thread only.
    public func setLabel(_ label: String) {
        if connection.isAwaiting(serial: serial) { connection.currentLabel = label }
    }

}
