import Sockets

/// Requests: heads parsed, bodies read (by length or chunked), and dispatch to the
/// handler, in order, one at a time.
extension Connection {
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
        currentMethod = head.method
        currentLabel = nil
        dispatchedAt = MonotonicClock.now()
        let request = HTTPRequest(head: head, body: body, remoteAddress: peer)
        context.handler.handle(request, responder)
        // Not answered at once (a read off the loop, a parked long-poll): hold no buffer
        // while it waits. Input is compacted as always (now freed: `isWaiting`); the last
        // answer's output went out while the connection was busy, so it kept its room.
        if isWaiting {
            compactInput()
            if output.isEmpty { output = [] }
        }
    }
}
