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

    enum State { case disconnected, connecting, open, webSocket }

    public let loop: EventLoop
    private let host: String
    private let port: UInt16
    var state = State.disconnected
    private var fd: Int32 = -1
    private var token: UInt64 = 0
    var output: [UInt8] = []
    var input: [UInt8] = []
    var scanned = 0
    var pending: ((Result<Response, Failure>) -> Void)?
    var pendingIsHead = false
    var upgrade: WebSocketHandlers?
    var timer: TimerToken?
    let frames = WebSocketFrameDecoder(maxPayload: 1 << 20, expectMasked: false)
    var maskState: UInt32

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

    func flush() {
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

    /// Closes the socket and resets to `.disconnected`; then tells whoever was waiting.
    func fail(_ failure: Failure) {
        let done = pending
        let ws = state == .webSocket ? upgrade : nil
        pending = nil
        if state == .webSocket { upgrade = nil }
        teardown()
        done?(.failure(failure))
        ws?.ended(failure)
    }

    func teardown() {
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
}
