import Glibc
import Sockets

/// Timeouts and closing: the sweep's deadline checks, draining at shutdown, and close.
extension Connection {
    /// Called by the loop's sweep timer.
    func checkTimeout(now: UInt64) {
        if writeStalledSince != 0, now &- writeStalledSince >= context.config.writeTimeout.nanoseconds {
            // The client has not taken a byte of its answer for the write timeout.
            context.log.debug("write timeout", ["peer": peer])
            return close()
        }
        guard deadlineKind != .none, now >= deadline else { return }
        switch deadlineKind {
        case .header, .body:
            if case .readingHead = state, inputStart == input.count, deadlineKind == .header, serial > 0 {
                close()   // idle between requests and nothing sent yet
                return
            }
            if case .closing = state { return close() }
            let ctx = ResponseEncoder.Context(isHead: false, keepAlive: false, version: .http1_1, acceptsGzip: false)
            context.encoder.encode(.error(.requestTimeout, code: "request_timeout",
                                          message: "the request was not received in time"), ctx, into: &output)
            state = .closing
            lingerOnClose = true
            setDeadline(.header, .seconds(1))   // give the 408 a moment, then close regardless
            flush()
        case .idle, .linger:
            close()
        case .none:
            break
        }
    }

    /// Shutdown: close at once if nothing is in flight; an upgraded connection is asked
    /// to end its protocol (a WebSocket gets a 1001 close).
    func closeIfIdle() {
        if case .upgraded = state {
            upgradeHandler?.serverDraining()
            return
        }
        if isIdle { close() }
    }

    func close() {
        if isClosed { return }
        let wasAwaiting: Bool
        if case .awaiting = state { wasAwaiting = true } else { wasAwaiting = false }
        let upgraded = upgradeHandler
        upgradeHandler = nil
        state = .closed
        context.loop.unregister(fd: fd, token: token)
        Glibc.close(fd)
        context.connectionClosed(self)
        if wasAwaiting { context.requestFinished() }
        let handlers = cancelHandlers
        cancelHandlers.removeAll()
        for h in handlers { h() }
        input = []
        output = []
        if let upgraded {
            context.stats.upgraded.wrappingAdd(-1, ordering: .relaxed)
            upgraded.connectionClosed()
        }
    }
}
