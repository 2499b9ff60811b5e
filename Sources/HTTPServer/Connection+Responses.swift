import Glibc
import Sockets

/// Responses: answers encoded in request order, written without blocking, and the
/// lingering close after the last one.
extension Connection {
    func deliver(_ response: HTTPResponse, serial s: UInt64) {
        guard case .awaiting(var ctx) = state, s == serial else { return }
        ctx.keepAlive = ctx.keepAlive && !response.closeConnection && !context.draining && !peerClosed && !refused
        context.encoder.encode(response, ctx, into: &output)
        cancelHandlers.removeAll()
        context.requestFinished()
        if let method = currentMethod {
            currentMethod = nil
            context.handler.requestCompleted(method: method, label: currentLabel, status: response.status.code,
                                             nanos: MonotonicClock.now() &- dispatchedAt)
        }
        if ctx.keepAlive {
            state = .readingHead
            parser.reset()
            setDeadline(.idle, context.config.idleTimeout)
            if !processing { processInput() }
            if !processing { resumeReading() }
        } else {
            state = .closing
            // Refused at once (503) or with pipelined requests unread: the client may
            // still be sending.
            lingerOnClose = refused || inputStart < input.count
        }
        if !processing { flush() }
    }

    func fail(_ error: HTTPParseError) {
        lingerOnClose = true   // answered before the request was read in full
        let ctx = ResponseEncoder.Context(isHead: false, keepAlive: false, version: .http1_1, acceptsGzip: false)
        context.encoder.encode(.error(error.status, code: error.code, message: error.message), ctx, into: &output)
        context.log.debug("bad request", ["peer": peer, "error": error.code])
        state = .closing
    }

    func closeAfterFlush() {
        state = .closing
    }

    /// Writes what is buffered; asks for `.writable` only if bytes are left behind.
    func flush() {
        if isClosed { return }
        var wrote = false
        while outputOffset < output.count {
            let n = output.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + outputOffset, $0.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outputOffset += n
                wrote = true
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                // The write timeout counts from the last time output moved.
                if wrote || writeStalledSince == 0 { writeStalledSince = MonotonicClock.now() }
                setWriteInterest(true)
                return
            } else {
                close()
                return
            }
        }
        output.removeAll(keepingCapacity: !isWaiting && output.capacity <= 64 * 1024)   // see `isWaiting`
        outputOffset = 0
        writeStalledSince = 0
        setWriteInterest(false)
        if case .closing = state { return lingerOnClose ? linger() : close() }
        if case .upgraded = state, let handler = upgradeHandler, handler.outputDrained() { return flush() }
        // A slow reader paused pipelined processing (and reading); resume both.
        if case .readingHead = state, inputStart < input.count, !processing {
            processInput()
            if outputOffset < output.count { return flush() }
        }
        if !processing { resumeReading() }
    }

    /// The connection ends after its last answer, but the client may still be sending
    /// (a body refused with 413 before it was read, a pipelined request): closing with
    /// unread input makes the kernel reset the connection, and a peer still writing (a
    /// proxy such as nginx) loses the answer and reports a 502 instead. So: half-close
    /// (our FIN follows the answer), read and drop what still comes for at most
    /// `lingerTime` and `lingerBytes`, then close (as nginx's `lingering_close` does).
    private func linger() {
        guard !peerClosed, !peerHalfClosed else { return close() }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        state = .lingering
        input = []
        inputStart = 0
        lingerBudget = Self.lingerBytes
        setDeadline(.linger, Self.lingerTime)
        discardInput()
    }

    func discardInput() {
        while true {
            let n = context.loop.readBuffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                lingerBudget -= n
                if lingerBudget <= 0 { return close() }
            } else if n == 0 {
                return close()   // the client closed its side: done
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                return close()
            }
        }
    }

    private func setWriteInterest(_ on: Bool) {
        guard on != writeInterest else { return }
        writeInterest = on
        var events: IOEvents = [.readable, .peerShutdown, .edgeTriggered]
        if on { events.insert(.writable) }
        context.loop.modify(fd: fd, token: token, events: events)
    }
}
