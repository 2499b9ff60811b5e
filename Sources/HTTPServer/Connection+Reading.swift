import Glibc
import Sockets

/// Reading: socket events, reading within the buffer bounds, the per-turn work budget,
/// and a peer that shut its side.
extension Connection {
    func handleEvents(_ events: IOEvents) {
        if !events.isDisjoint(with: [.error, .hangUp]) {
            close()
            return
        }
        if events.contains(.peerShutdown) { peerHalfClosed = true }
        if !events.isDisjoint(with: [.readable, .peerShutdown]) { readAvailable() }
        if events.contains(.writable) { flush() }
    }

    /// Reads what the socket has (up to the buffer bounds), processes it and flushes;
    /// repeats while processing or flushing made room for more. Never re-entered: a
    /// request to read during a read is a `rereadRequested` for its next round.
    private func readAvailable() {
        guard !isClosed else { return }
        if case .lingering = state { return discardInput() }
        if reading { rereadRequested = true; return }
        turnWork = 0
        reading = true
        defer { reading = false }
        repeat {
            rereadRequested = false
            readSocket()
            processInput()
            if peerClosed { handlePeerClosed() }
            if readPaused && !mustStopReading && !peerClosed { rereadRequested = true }
            flush()
        } while rereadRequested && !isClosed && !peerClosed
    }

    private func readSocket() {
        readPaused = false
        while true {
            if mustStopReading { readPaused = true; return }
            let n = context.loop.readBuffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                input.append(contentsOf: context.loop.readBuffer[0..<n])
                // A short read drained the socket: bytes arriving later raise a new edge, so
                // the extra read(2) that would only return EAGAIN is skipped.
                if n < context.loop.readBuffer.count && !peerHalfClosed { return }
            } else if n == 0 {
                peerClosed = true
                return
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                close()
                return
            }
        }
    }

    private func handlePeerClosed() {
        switch state {
        case .awaiting where cancelHandlers.isEmpty:
            // The client sent its request and shut its side (`nc -N`, a proxy): the
            // answer is on its way (a read or write off the loop, never parked), so
            // it is written before the close (`deliver` sees `peerClosed`).
            break
        case .awaiting, .upgraded:
            // The client is gone while we hold a parked request (a long-poll asked to be
            // told of cancels), or an upgraded peer (a WebSocket) half-closed without
            // closing its protocol.
            close()
        case .readingHead where inputStart == input.count:
            closeAfterFlush()
        case .readingHead, .readingBody, .readingChunked:
            close()   // a partial request will never complete
        case .lingering:
            close()
        case .closing, .closed:
            break
        }
    }

    /// At most this many requests (or WebSocket frames) per connection per turn of the
    /// loop; then the connection goes to the back of the loop's queue (`yieldTurn`) and
    /// the other connections get theirs. A client pipelining requests (or pings)
    /// without pause held its loop for seconds before (nginx and Redis bound their work
    /// per event the same way).
    static let workPerTurn = 32

    /// Out of budget for this turn: the rest of the input is handled later, after the
    /// loop has served its other ready connections.
    func yieldTurn() {
        guard !turnYielded else { return }
        turnYielded = true
        // A timer due now runs after this iteration's ready connections (loop-confined,
        // like every timer of this connection).
        context.loop.schedule(after: .zero) { [self] in
            turnYielded = false
            guard !isClosed else { return }
            if readPaused || peerHalfClosed {
                readAvailable()   // resets the budget; reads on where it stopped
            } else {
                turnWork = 0
                processInput()
                if peerClosed { handlePeerClosed() }
                flush()
            }
        }
    }

    /// Reads on after a pause, once the request was answered or the client drained.
    func resumeReading() {
        guard readPaused, !mustStopReading, !isClosed else { return }
        readAvailable()
    }

    /// Waiting for the handler's answer (a parked long-poll) or upgraded (an idle
    /// socket): thousands of connections may wait, so their emptied buffers are freed,
    /// not kept for the next request as a busy keep-alive connection's are.
    var isWaiting: Bool {
        switch state {
        case .awaiting, .upgraded: true
        default: false
        }
    }

    func compactInput() {
        if inputStart == input.count {
            input.removeAll(keepingCapacity: !isWaiting && input.capacity <= 16 * 1024)
            inputStart = 0
        } else if inputStart > 64 * 1024 {
            input.removeFirst(inputStart)
            inputStart = 0
        }
    }
}
