import CLinux
import Glibc

/// One client connection, owned by one loop (all methods run on that loop's thread).
///
/// Lifecycle:
///
///     readingHead ──head──> readingBody/readingChunked ──body──> awaiting ──respond──> readingHead
///          │                        │                              │
///          └──── bad bytes / limits / timeouts ──> 4xx, closing ───┴── client gone ──> closed
///
/// Pipelined requests wait in `input` while one is `awaiting`, so responses go out in order.
final class Connection: LoopRegistrant {
    enum State {
        case readingHead
        case readingBody(HTTPRequestHead, remaining: Int, body: [UInt8])
        case readingChunked(HTTPRequestHead, ChunkedDecoder, body: [UInt8])
        case awaiting(ResponseEncoder.Context)
        case webSocket
        case closing
        case closed
    }

    let fd: Int32
    let peer: String
    var token: UInt64 = 0
    unowned let context: LoopContext
    /// Over the connection cap: answer the first request with 503 and close.
    let refused: Bool

    var state: State = .readingHead
    var input: [UInt8] = []
    var inputStart = 0
    private var parser: RequestHeadParser
    var output: [UInt8] = []
    var outputOffset = 0
    private var writeInterest = false
    var processing = false
    private var readPaused = false
    private var peerClosed = false
    var serial: UInt64 = 0
    var cancelHandlers: [() -> Void] = []
    /// The request being answered and when it was dispatched (for `requestCompleted`).
    var currentHead: HTTPRequestHead?
    var currentLabel: String?
    var dispatchedAt: UInt64 = 0
    /// Monotonic deadline of the current phase (header read, body read or keep-alive idle).
    /// Set once the connection is upgraded (RFC 6455).
    var webSocketSession: WebSocketSession?
    private(set) var deadline: UInt64
    private(set) var deadlineKind: DeadlineKind = .header

    enum DeadlineKind { case header, body, idle, none }

    private static let maxBufferedWhileAwaiting = 256 * 1024
    private static let maxPendingOutput = 1 << 20

    init(fd: Int32, peer: String, context: LoopContext, refused: Bool) {
        self.fd = fd
        self.peer = peer
        self.context = context
        self.refused = refused
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
    }

    // MARK: events

    func handleEvents(_ events: UInt32) {
        if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            close()
            return
        }
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 {
            readAvailable(peerHalfClosed: events & EPOLLRDHUP.rawValue != 0)
        }
        if events & EPOLLOUT.rawValue != 0 { flush() }
    }

    /// Reads what the socket has. With `peerHalfClosed` (EPOLLRDHUP) it reads on to the
    /// EOF, since no further edge will announce it.
    private func readAvailable(peerHalfClosed: Bool = false) {
        guard !isClosed else { return }
        var progressed = false
        while !readPaused {
            let n = context.loop.readBuffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                input.append(contentsOf: context.loop.readBuffer[0..<n])
                progressed = true
                if case .awaiting = state, input.count - inputStart > Self.maxBufferedWhileAwaiting { readPaused = true }
                // A short read drained the socket: bytes arriving later raise a new edge, so
                // the extra read(2) that would only return EAGAIN is skipped.
                if n < context.loop.readBuffer.count && !peerHalfClosed { break }
            } else if n == 0 {
                peerClosed = true
                break
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                break
            } else {
                close()
                return
            }
        }
        if progressed, case .readingBody = state { touchBodyDeadline() }
        if progressed, case .readingChunked = state { touchBodyDeadline() }
        processInput()
        if peerClosed {
            switch state {
            case .awaiting, .webSocket:
                // The client is gone while we hold its request (e.g. a parked long-poll),
                // or a WebSocket peer half-closed without a close frame.
                close()
            case .readingHead where inputStart == input.count:
                closeAfterFlush()
            case .readingHead, .readingBody, .readingChunked:
                close()   // a partial request will never complete
            case .closing, .closed:
                break
            }
        }
        flush()
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
                if output.count - outputOffset > Self.maxPendingOutput { return }   // slow reader: stop here
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
            case .webSocket:
                return processWebSocketInput()
            case .awaiting, .closing, .closed:
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
        let ctx = ResponseEncoder.Context(isHead: head.method == .HEAD, keepAlive: head.keepAlive,
                                          version: head.version, acceptsGzip: head.acceptsGzip)
        state = .awaiting(ctx)
        setDeadline(.none, .zero)
        context.requestStarted()
        let responder = Responder(loop: context.loop, connection: self, serial: serial)
        if refused {
            var r = HTTPResponse.error(.serviceUnavailable, code: "too_many_connections",
                                       message: "the server is at its connection limit; retry shortly",
                                       headers: [("Retry-After", "1")])
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
            if readPaused {
                readPaused = false
                if !processing { readAvailable() }
            }
            if !processing { processInput() }
        } else {
            state = .closing
        }
        if !processing { flush() }
    }

    private func fail(_ error: HTTPParseError) {
        let ctx = ResponseEncoder.Context(isHead: false, keepAlive: false, version: .http1_1, acceptsGzip: false)
        context.encoder.encode(.error(error.status, code: error.code, message: error.message), ctx, into: &output)
        context.log.debug("bad request", ["peer": peer, "error": error.code])
        state = .closing
    }

    private func closeAfterFlush() {
        state = .closing
    }

    /// Writes what is buffered; registers for EPOLLOUT only if bytes are left behind.
    func flush() {
        if isClosed { return }
        while outputOffset < output.count {
            let n = output.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + outputOffset, $0.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outputOffset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                setWriteInterest(true)
                return
            } else {
                close()
                return
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 64 * 1024)
        outputOffset = 0
        setWriteInterest(false)
        if case .closing = state { return close() }
        if case .webSocket = state, let session = webSocketSession, let ws = session.handle {
            session.delegate?.webSocketDidDrain(ws)
        }
        // A slow reader may have paused pipelined processing; resume it.
        if case .readingHead = state, inputStart < input.count, !processing {
            processInput()
            if outputOffset < output.count { flush() }
        }
    }

    private func setWriteInterest(_ on: Bool) {
        guard on != writeInterest else { return }
        writeInterest = on
        var events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        if on { events |= EPOLLOUT.rawValue }
        context.loop.modify(fd: fd, token: token, events: events)
    }

    // MARK: timeouts and closing

    func setDeadline(_ kind: DeadlineKind, _ after: Duration) {
        deadlineKind = kind
        deadline = kind == .none ? 0 : MonotonicClock.now() &+ after.nanoseconds
    }

    private func touchBodyDeadline() { setDeadline(.body, context.config.bodyTimeout) }

    /// Called by the loop's sweep timer.
    func checkTimeout(now: UInt64) {
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
            setDeadline(.header, .seconds(1))   // give the 408 a moment, then close regardless
            flush()
        case .idle:
            close()
        case .none:
            break
        }
    }

    /// Shutdown: close at once if nothing is in flight; WebSockets get a 1001 close.
    func closeIfIdle() {
        if case .webSocket = state { return webSocketClose(.goingAway) }
        if isIdle { close() }
    }

    func close() {
        if isClosed { return }
        let wasAwaiting: Bool
        if case .awaiting = state { wasAwaiting = true } else { wasAwaiting = false }
        let session = webSocketSession
        webSocketSession = nil
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
        if let session { webSocketDidClose(session) }
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
