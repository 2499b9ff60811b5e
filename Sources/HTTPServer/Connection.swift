import Glibc
import Sockets

/// One client connection, owned by one loop (all methods run on that loop's thread).
///
/// Lifecycle:
///
///     readingHead ──head──> readingBody/readingChunked ──body──> awaiting ──respond──> readingHead
///          │                        │                              │
///          └──── bad bytes / limits / timeouts ──> 4xx, closing ───┴── client gone ──> closed
///                                                       └─ answer sent ──> lingering ──> closed
///     awaiting ──101 (`upgrade`)──> upgraded: input goes to the `UpgradeHandler` (a WebSocket)
///
/// Pipelined requests wait in `input` while one is `awaiting`, so responses go out in order.
///
/// Memory is bounded in every state: reading stops while `input` holds
/// `maxBufferedInput` unparsed bytes or `output` holds `maxPendingOutput` unsent ones,
/// and resumes when the request is answered or the client drains its responses.
/// Output that does not move for the write timeout closes the connection.
final class Connection: LoopRegistrant {
    /// Why an accepted connection only gets a 503 and is closed.
    enum Refusal { case serverFull, addressFull }

    enum State {
        case readingHead
        case readingBody(HTTPRequestHead, remaining: Int, body: [UInt8])
        case readingChunked(HTTPRequestHead, ChunkedDecoder, body: [UInt8])
        case awaiting(ResponseEncoder.Context)
        /// Switched protocols (`upgrade`): input goes to `upgradeHandler`.
        case upgraded
        case closing
        /// The last answer is out; what the client still sends is read and dropped
        /// until it closes (see `linger`).
        case lingering
        case closed
    }

    let fd: Int32
    let peer: String
    var token: UInt64 = 0
    unowned let context: LoopContext
    /// Over a connection cap: answer the first request with 503 and close.
    let refusal: Refusal?
    var refused: Bool { refusal != nil }

    var state: State = .readingHead
    var input: [UInt8] = []
    var inputStart = 0
    private var parser: RequestHeadParser
    var output: [UInt8] = []
    var outputOffset = 0
    private var writeInterest = false
    var processing = false
    /// Reading stopped at a buffer bound; the socket may hold more (edge-triggered: no
    /// new edge comes for it), so `resumeReading` reads on when there is room again.
    var readPaused = false
    var peerClosed = false
    /// `.peerShutdown` was seen: read to EOF, since no further edge will announce it.
    var peerHalfClosed = false
    private var reading = false
    private var rereadRequested = false
    /// Requests dispatched and WebSocket frames decoded in this turn (see `workPerTurn`),
    /// and whether the rest of the work is queued as a task of its own.
    var turnWork = 0
    private var turnYielded = false
    /// When queued output last stopped moving (the socket would block); 0 when none is stuck.
    private(set) var writeStalledSince: UInt64 = 0
    var serial: UInt64 = 0
    var cancelHandlers: [() -> Void] = []
    /// The request being answered and when it was dispatched (for `requestCompleted`).
    var currentHead: HTTPRequestHead?
    var currentLabel: String?
    var dispatchedAt: UInt64 = 0
    /// Set once the connection switched protocols (`upgrade`).
    var upgradeHandler: (any UpgradeHandler)?
    /// Monotonic deadline of the current phase (header read, body read or keep-alive idle).
    private(set) var deadline: UInt64
    private(set) var deadlineKind: DeadlineKind = .header

    enum DeadlineKind { case header, body, idle, linger, none }

    /// Lingering close: at most this long and this many discarded bytes.
    static let lingerTime: Duration = .seconds(2)
    static let lingerBytes = 1 << 20
    private var lingerBudget = 0
    /// The connection is closing while the client may still be sending (an error before
    /// its body was read, unread pipelined input): close lingering (see `linger`). A
    /// finished exchange with nothing unread closes at once.
    private var lingerOnClose = false

    /// Unparsed input held before reading stops (a head is at most `maxHeaderBytes`,
    /// a WebSocket frame a few KiB; one read can add up to the loop's 64 KiB buffer).
    static let maxBufferedInput = 64 * 1024
    /// Unsent output queued before reading and processing stop (one response may be
    /// larger; it is never cut, only nothing more is produced until it drains).
    static let maxPendingOutput = 1 << 20

    init(fd: Int32, peer: String, context: LoopContext, refusal: Refusal?) {
        self.fd = fd
        self.peer = peer
        self.context = context
        self.refusal = refusal
        self.parser = RequestHeadParser(maxHeaderBytes: context.config.maxHeaderBytes)
        // A new connection must deliver its first head within the header timeout.
        self.deadline = MonotonicClock.now() &+ context.config.headerTimeout.nanoseconds
    }

    var isClosed: Bool { if case .closed = state { return true } else { return false } }
    var isIdle: Bool {
        if case .readingHead = state { return inputStart == input.count && outputOffset == output.count }
        return false
    }

    func isAwaiting(serial s: UInt64) -> Bool {
        if case .awaiting = state { return s == serial }
        return false
    }

    func addCancelHandler(_ callback: @escaping () -> Void, serial s: UInt64) {
        guard isAwaiting(serial: s) else { return callback() }
        cancelHandlers.append(callback)
        // The client shut its side while the request was being looked at (before it
        // parked): a parked request of a client that is gone ends now, as it would have
        // had the end come a moment later (`handlePeerClosed`).
        if peerClosed { close() }
    }

    // MARK: events

    func handleEvents(_ events: IOEvents) {
        if !events.isDisjoint(with: [.error, .hangUp]) {
            close()
            return
        }
        if events.contains(.peerShutdown) { peerHalfClosed = true }
        if !events.isDisjoint(with: [.readable, .peerShutdown]) { readAvailable() }
        if events.contains(.writable) { flush() }
    }

    var pendingOutputBytes: Int { output.count - outputOffset }
    /// Unsent output at its bound: nothing more is produced (no request parsed, no frame
    /// processed) until the client takes some.
    var outputBackedUp: Bool { pendingOutputBytes >= Self.maxPendingOutput }

    /// Whether the buffers are at their bounds, so reading must wait.
    var mustStopReading: Bool { input.count - inputStart >= Self.maxBufferedInput || outputBackedUp }

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

    // MARK: parsing

    func processInput() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while true {
            switch state {
            case .readingHead:
                if inputStart == input.count {
                    compactInput()
                    return
                }
                if outputBackedUp { return }   // slow reader: stop here
                if turnWork >= Self.workPerTurn { return yieldTurn() }
                let start = inputStart
                let parsed = input.withUnsafeBufferPointer { buf -> Result<RequestHeadParser.Outcome, HTTPParseError> in
                    do throws(HTTPParseError) {
                        return .success(try parser.parse(UnsafeBufferPointer(rebasing: buf[start...])))
                    } catch {
                        return .failure(error)
                    }
                }
                let outcome: RequestHeadParser.Outcome
                switch parsed {
                case .success(let o): outcome = o
                case .failure(let error): return fail(error)
                }
                switch outcome {
                case .needMore:
                    if deadlineKind != .header { setDeadline(.header, context.config.headerTimeout) }
                    return
                case .head(let head, let consumed):
                    inputStart += consumed
                    startBody(head)
                }
            case .readingBody(let head, let remaining, var body):
                let available = input.count - inputStart
                let n = min(available, remaining)
                body.append(contentsOf: input[inputStart..<(inputStart + n)])
                inputStart += n
                if n == remaining {
                    dispatch(head, body)
                } else {
                    state = .readingBody(head, remaining: remaining - n, body: body)
                    compactInput()
                    return
                }
            case .readingChunked(let head, var decoder, var body):
                let start = inputStart
                let fed = input.withUnsafeBufferPointer { buf -> Result<Int, HTTPParseError> in
                    do throws(HTTPParseError) {
                        return .success(try decoder.feed(UnsafeBufferPointer(rebasing: buf[start...]), into: &body))
                    } catch {
                        return .failure(error)
                    }
                }
                switch fed {
                case .success(let used): inputStart += used
                case .failure(let error): return fail(error)
                }
                if decoder.isDone {
                    dispatch(head, body)
                } else {
                    state = .readingChunked(head, decoder, body: body)
                    compactInput()
                    return
                }
            case .upgraded:
                upgradeHandler?.processInput()
                compactInput()
                return
            case .awaiting, .closing, .lingering, .closed:
                return
            }
        }
    }

    private func startBody(_ head: HTTPRequestHead) {
        let framing: BodyFraming
        do { framing = try BodyFraming.of(head) } catch { return fail(error) }
        var expectContinue = false
        if let expect = head.headers["expect"] {
            guard expect.trimmedOWS().lowercased() == "100-continue" else { return fail(.unsupportedExpectation) }
            expectContinue = head.version == .http1_1 && framing != .none
        }
        // Only requests with a body need the route's limit (saves a route match per GET).
        let limit = framing == .none ? 0 : context.handler.bodyLimit(for: head) ?? context.config.maxBodyBytes
        // RFC 9110 §10.1.1: send 100 Continue only if the body is not already on its way.
        let bodyBuffered = inputStart < input.count
        switch framing {
        case .none:
            dispatch(head, [])
        case .length(let n):
            // Refused before reading the body: with Expect the client never sends it.
            guard n <= limit else { return fail(.bodyTooLarge) }
            if expectContinue && !bodyBuffered { output.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8) }
            var body: [UInt8] = []
            body.reserveCapacity(n)
            state = .readingBody(head, remaining: n, body: body)
            setDeadline(.body, context.config.bodyTimeout)
        case .chunked:
            if expectContinue && !bodyBuffered { output.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8) }
            state = .readingChunked(head, ChunkedDecoder(maxBodyBytes: limit), body: [])
            setDeadline(.body, context.config.bodyTimeout)
        }
    }

    private func dispatch(_ head: HTTPRequestHead, _ body: [UInt8]) {
        serial &+= 1
        turnWork += 1
        let ctx = ResponseEncoder.Context(isHead: head.method == .HEAD, keepAlive: head.keepAlive,
                                          version: head.version, acceptsGzip: head.acceptsGzip)
        state = .awaiting(ctx)
        setDeadline(.none, .zero)
        context.requestStarted()
        let responder = Responder(loop: context.loop, connection: self, serial: serial)
        if refused {
            let message = refusal == .addressFull
                ? "too many connections from your address; close some and retry"
                : "the server is at its connection limit; retry shortly"
            var r = HTTPResponse.error(.serviceUnavailable, code: "too_many_connections",
                                       message: message, headers: [("Retry-After", "1")])
            r.closeConnection = true
            return deliver(r, serial: serial)
        }
        currentHead = head
        currentLabel = nil
        dispatchedAt = MonotonicClock.now()
        let request = HTTPRequest(head: head, body: body, remoteAddress: peer)
        context.handler.handle(request, responder)
    }

    // MARK: responding

    func deliver(_ response: HTTPResponse, serial s: UInt64) {
        guard case .awaiting(var ctx) = state, s == serial else { return }
        ctx.keepAlive = ctx.keepAlive && !response.closeConnection && !context.draining && !peerClosed && !refused
        context.encoder.encode(response, ctx, into: &output)
        cancelHandlers.removeAll()
        context.requestFinished()
        if let head = currentHead {
            currentHead = nil
            context.handler.requestCompleted(head, label: currentLabel, status: response.status.code,
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

    private func fail(_ error: HTTPParseError) {
        lingerOnClose = true   // answered before the request was read in full
        let ctx = ResponseEncoder.Context(isHead: false, keepAlive: false, version: .http1_1, acceptsGzip: false)
        context.encoder.encode(.error(error.status, code: error.code, message: error.message), ctx, into: &output)
        context.log.debug("bad request", ["peer": peer, "error": error.code])
        state = .closing
    }

    private func closeAfterFlush() {
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
        output.removeAll(keepingCapacity: output.capacity <= 64 * 1024)
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

    private func discardInput() {
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

    // MARK: timeouts and closing

    func setDeadline(_ kind: DeadlineKind, _ after: Duration) {
        deadlineKind = kind
        deadline = kind == .none ? 0 : MonotonicClock.now() &+ after.nanoseconds
    }

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

    func compactInput() {
        if inputStart == input.count {
            input.removeAll(keepingCapacity: input.capacity <= 16 * 1024)
            inputStart = 0
        } else if inputStart > 64 * 1024 {
            input.removeFirst(inputStart)
            inputStart = 0
        }
    }
}
