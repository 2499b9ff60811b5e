import Glibc
import Sockets
import WebSocket

/// An outbound HTTP/1.1 keep-alive connection on an event loop, which can upgrade to a
/// WebSocket client (RFC 6455 §4.1). One request at a time, no pipelining; responses
/// must carry Content-Length (this server never sends chunked ones). After a failure
/// or a `Connection: close` the next request connects again.
///
/// Confinement: loop thread only, like the server's connections (see EventLoop). Every
/// callback runs on the loop and may start the next request at once.
public final class ClientConnection: LoopRegistrant {
    public struct Response: Sendable {
        public let status: Int
        /// Header names lowercased, in arrival order.
        public let headers: [(name: String, value: String)]
        public let body: [UInt8]

        public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case connect(errno: Int32)
        case closed
        case timedOut
        case malformed(String)
        case webSocketClosed(code: UInt16)

        public var description: String {
            switch self {
            case .connect(let e): return "connect failed: \(String(cString: strerror(e)))"
            case .closed: return "connection closed"
            case .timedOut: return "timed out"
            case .malformed(let why): return "malformed response: \(why)"
            case .webSocketClosed(let code): return "WebSocket closed with \(code)"
            }
        }
    }

    /// What a WebSocket client hears: the upgrade answer (nil = 101), text messages, and the end.
    public struct WebSocketHandlers {
        public var opened: (Response?) -> Void
        public var text: ([UInt8]) -> Void
        public var ended: (Failure) -> Void
        public init(opened: @escaping (Response?) -> Void, text: @escaping ([UInt8]) -> Void, ended: @escaping (Failure) -> Void) {
            self.opened = opened
            self.text = text
            self.ended = ended
        }
    }

    private enum State { case disconnected, connecting, open, webSocket }

    public let loop: EventLoop
    private let host: String
    private let port: UInt16
    private var state = State.disconnected
    private var fd: Int32 = -1
    private var token: UInt64 = 0
    private var output: [UInt8] = []
    private var input: [UInt8] = []
    private var scanned = 0
    private var pending: ((Result<Response, Failure>) -> Void)?
    private var pendingIsHead = false
    private var upgrade: WebSocketHandlers?
    private var timer: TimerToken?
    private let frames = WebSocketFrameDecoder(maxPayload: 1 << 20, expectMasked: false)
    private var maskState: UInt32

    public init(loop: EventLoop, host: String, port: UInt16) {
        self.loop = loop
        self.host = host
        self.port = port
        maskState = UInt32(truncatingIfNeeded: UInt(bitPattern: ObjectIdentifier(loop).hashValue)) | 1
    }

    /// True while a request or the upgrade is waiting for its answer.
    public var isBusy: Bool { pending != nil }

    /// Sends one request; `done` gets the response or the failure (the connection is then
    /// closed, and the next request reconnects). `timeout` bounds the whole exchange.
    public func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                        timeout: Duration = .seconds(70), _ done: @escaping (Result<Response, Failure>) -> Void) {
        precondition(pending == nil && state != .webSocket, "one request at a time, not on a WebSocket")
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        output.append(contentsOf: head.utf8)
        if let body { output.append(contentsOf: body) }
        pending = done
        pendingIsHead = method == "HEAD"
        timer = loop.schedule(after: timeout) { [self] in
            timer = nil
            fail(.timedOut)
        }
        if state == .disconnected { connect() } else if state == .open { flush() }
    }

    /// Upgrades to a WebSocket at `path` (a fresh connection is opened if needed).
    /// `opened(nil)` means 101; any other answer is handed over and the connection closes.
    public func openWebSocket(_ path: String, headers: [(String, String)] = [], handlers: WebSocketHandlers) {
        var key: [UInt8] = []
        for _ in 0..<4 { key += withUnsafeBytes(of: nextMask()) { Array($0) } }
        let expected = WebSocketHandshake.acceptKey(for: Base64.encode(key))
        upgrade = handlers
        request("GET", path, headers: headers + [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                  ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", Base64.encode(key))],
                timeout: .seconds(10)) { [self] result in
            guard let handlers = upgrade else { return }
            switch result {
            case .failure(let f):
                upgrade = nil
                handlers.ended(f)
            case .success(let r) where r.status == 101:
                guard r.header("sec-websocket-accept") == expected else {
                    upgrade = nil
                    close()
                    handlers.ended(.malformed("Sec-WebSocket-Accept does not match the key"))
                    return
                }
                state = .webSocket
                handlers.opened(nil)
                readFrames()
            case .success(let r):
                upgrade = nil
                handlers.opened(r)
                close()
            }
        }
    }

    /// Sends a text message on an open WebSocket (masked, as a client must).
    public func sendText(_ bytes: [UInt8]) {
        guard state == .webSocket else { return }
        output.append(contentsOf: WebSocketFrame(opcode: .text, payload: bytes).encodedMasked(nextMask()))
        flush()
    }

    /// Closes the socket now; a waiting request fails with `.closed`, a WebSocket ends.
    public func close() { fail(.closed) }

    // MARK: socket

    private func connect() {
        let s = socket(AF_INET, Socket.streamFlags, 0)
        guard s >= 0 else { return fail(.connect(errno: errno)) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 && errno != EINPROGRESS {
            let e = errno
            Glibc.close(s)
            return fail(.connect(errno: e))
        }
        fd = s
        state = .connecting
        // Edge-triggered with `.writable` always on: a write edge arrives when connect
        // completes and whenever a full send buffer drains.
        token = loop.register(fd: s, events: [.readable, .writable, .peerShutdown, .edgeTriggered], self)
    }

    package func handleEvents(_ events: IOEvents) {
        if state == .connecting {
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err != 0 { return fail(.connect(errno: err)) }
            if !events.contains(.writable) && events.isDisjoint(with: [.error, .hangUp]) { return }
            state = .open
        }
        if events.contains(.writable) { flush() }
        if fd >= 0 && !events.isDisjoint(with: [.readable, .peerShutdown, .error, .hangUp]) { readAll() }
    }

    private func flush() {
        guard state == .open || state == .webSocket, !output.isEmpty else { return }
        let n = output.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n > 0 {
            output.removeFirst(n)
        } else if n < 0 && errno != EAGAIN && errno != EINTR {
            fail(.closed)
        }
    }

    private func readAll() {
        var eof = false
        while fd >= 0 {
            let n = loop.readBuffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                input.append(contentsOf: loop.readBuffer[0..<n])
                continue
            }
            if n == 0 { eof = true }
            else if errno == EINTR { continue }
            else if errno != EAGAIN { eof = true }
            break
        }
        if state == .webSocket { readFrames() } else { readResponse() }
        if eof && fd >= 0 { fail(.closed) }
    }

    private func readResponse() {
        let from = max(0, scanned - 3)
        guard pending != nil, input.count >= 4, from <= input.count - 4 else { return }
        var end = -1
        for i in from...(input.count - 4)
        where input[i] == 13 && input[i + 1] == 10 && input[i + 2] == 13 && input[i + 3] == 10 {
            end = i
            break
        }
        guard end >= 0 else { scanned = input.count; return }
        let lines = String(decoding: input[0..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            return fail(.malformed("status line"))
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return fail(.malformed("header line")) }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...].drop { $0 == " " })))
        }
        let noBody = pendingIsHead || status == 101 || status == 204 || status == 304 || status < 200
        var length = 0
        if !noBody {
            if headers.contains(where: { $0.name == "transfer-encoding" }) { return fail(.malformed("chunked body")) }
            guard let cl = headers.first(where: { $0.name == "content-length" }), let n = Int(cl.value), n >= 0 else {
                return fail(.malformed("no Content-Length"))
            }
            length = n
        }
        guard input.count >= end + 4 + length else { return }
        let body = Array(input[(end + 4)..<(end + 4 + length)])
        input.removeFirst(end + 4 + length)
        scanned = 0
        let closeAfter = headers.contains { $0.name == "connection" && $0.value.lowercased().contains("close") }
        let done = pending!
        pending = nil
        if let t = timer { loop.cancel(t); timer = nil }
        if closeAfter && status != 101 { teardown() }
        done(.success(Response(status: status, headers: headers, body: body)))
    }

    private func readFrames() {
        while state == .webSocket && !input.isEmpty {
            let outcome = input.withUnsafeBufferPointer { frames.decode($0) }
            switch outcome {
            case .needMore:
                return
            case .failure(let code):
                return fail(.webSocketClosed(code: code.rawValue))
            case .frame(let frame, let consumed):
                input.removeFirst(consumed)
                switch frame.opcode {
                case .text, .binary, .continuation: upgrade?.text(frame.payload)
                case .ping:
                    output.append(contentsOf: WebSocketFrame(opcode: .pong, payload: frame.payload).encodedMasked(nextMask()))
                    flush()
                case .pong: break
                case .close:
                    let code = frame.payload.count >= 2 ? UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]) : 1005
                    output.append(contentsOf: WebSocketFrame(opcode: .close, payload: Array(frame.payload.prefix(2))).encodedMasked(nextMask()))
                    flush()
                    return fail(.webSocketClosed(code: code))
                }
            }
        }
    }

    /// Closes the socket and resets to `.disconnected`; then tells whoever was waiting.
    private func fail(_ failure: Failure) {
        let done = pending
        let ws = state == .webSocket ? upgrade : nil
        pending = nil
        if state == .webSocket { upgrade = nil }
        teardown()
        done?(.failure(failure))
        ws?.ended(failure)
    }

    private func teardown() {
        if let t = timer { loop.cancel(t); timer = nil }
        if fd >= 0 {
            loop.unregister(fd: fd, token: token)
            Glibc.close(fd)
            fd = -1
        }
        state = .disconnected
        output.removeAll()
        input.removeAll()
        scanned = 0
    }

    /// xorshift32: masks need only be unpredictable to intermediaries, not secret (§10.3).
    private func nextMask() -> UInt32 {
        maskState ^= maskState << 13
        maskState ^= maskState >> 17
        maskState ^= maskState << 5
        return maskState
    }
}
