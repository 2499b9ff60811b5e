import Sockets

extension Connection {
    /// Answers request `serial` with `101 Switching Protocols` and `headers`, then hands
    /// the connection to the handler `make` builds: from here its input goes to
    /// `UpgradeHandler.processInput`. Nil if the request is no longer awaiting its answer
    /// (the client went away). Loop thread only.
    func upgrade<Handler: UpgradeHandler>(serial s: UInt64, headers: [(name: String, value: String)],
                                          to make: (UpgradedConnection) -> Handler) -> Handler? {
        guard isAwaiting(serial: s) else { return nil }
        var head = "HTTP/1.1 101 Switching Protocols\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        output.append(contentsOf: (head + "\r\n").utf8)
        cancelHandlers.removeAll()
        context.requestFinished()
        if let method = currentMethod {
            currentMethod = nil
            context.handler.requestCompleted(method: method, label: currentLabel, status: 101,
                                             nanos: MonotonicClock.now() &- dispatchedAt)
        }
        context.stats.upgraded.wrappingAdd(1, ordering: .relaxed)
        let handler = make(UpgradedConnection(self))
        upgradeHandler = handler
        state = .upgraded
        setDeadline(.none, .zero)
        if !processing {
            processInput()
            flush()
            // The peer shut its side while the upgrade was being decided.
            if peerClosed, case .upgraded = state { close() }
        }
        return handler
    }
}
