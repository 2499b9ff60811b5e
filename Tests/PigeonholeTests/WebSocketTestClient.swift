import Glibc
import HTTPServer
import JSON
import WebSocket

/// A blocking RFC 6455 client over one TCP connection to the test server, written
/// from the client's side of the RFC (masked frames out, unmasked frames in), for the
/// end-to-end tests of `GET /v1/notify`.
///
/// The opening handshake is plain HTTP/1.1; a refusal (401, 426, ...) comes back as an
/// `HTTPTestResponse` like every other answer in this target. Every receive has a
/// deadline, so a server that never sends fails a test instead of hanging it.
///
/// Confinement: one thread at a time (see HTTPTestClient); hence `@unchecked Sendable`.
final class WebSocketTestClient: @unchecked Sendable {
    struct Frame: CustomStringConvertible {
        var fin: Bool
        var opcode: UInt8
        var payload: [UInt8]
        /// When the receive that completed this frame returned.
        var receivedAt: ContinuousClock.Instant

        static let text: UInt8 = 0x1, close: UInt8 = 0x8, ping: UInt8 = 0x9, pong: UInt8 = 0xA

        var text: String { String(decoding: payload, as: UTF8.self) }
        /// The payload as JSON (`.null` when it is not).
        var json: JSONValue { (try? JSONParser.parse(payload)) ?? .null }
        /// `type` and `cursor` of a notifier message.
        var type: String? { opcode == Self.text ? json["type"]?.stringValue : nil }
        var cursor: String? { opcode == Self.text ? json["cursor"]?.stringValue : nil }
        /// The status code of a close frame.
        var closeCode: UInt16? {
            opcode == Self.close && payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
        }

        var description: String { opcode == Self.text ? text : "opcode \(opcode) \(payload)" }
    }

    enum Failure: Error, CustomStringConvertible {
        case connect(errno: Int32)
        case timedOut
        case closed
        case malformed(String)
        case refused(HTTPTestResponse)

        var description: String {
            switch self {
            case .connect(let e): return "connect failed: errno \(e)"
            case .timedOut: return "nothing received before the deadline"
            case .closed: return "server closed the connection"
            case .malformed(let why): return "malformed: \(why)"
            case .refused(let r): return "upgrade refused: \(r.status) \(r.text)"
            }
        }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var isOpen = true
    private var rng = SystemRandomNumberGenerator()

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw Failure.connect(errno: e)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    func close() {
        guard isOpen else { return }
        isOpen = false
        Glibc.close(fd)
    }

    /// Vanishes without a close frame: SO_LINGER 0, so `close` sends a RST.
    func abort() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    /// Half-closes (FIN) without a close frame.
    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    // MARK: the opening handshake

    static let defaultKey = "dGhlIHNhbXBsZSBub25jZQ=="

    /// The standard upgrade headers; tests drop or alter some of them.
    static func upgradeHeaders(key: String = defaultKey, version: String = "13") -> [(String, String)] {
        [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
    }

    /// Sends `GET path` with `headers` (plus `Authorization: Bearer` when `token` is
    /// given) and reads the answer's head, and its body unless it is a 101.
    func requestUpgrade(_ path: String, token: String? = nil,
                        headers: [(String, String)] = upgradeHeaders()) throws -> HTTPTestResponse {
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        write(Array(head.utf8))
        return try readHTTPResponse()
    }

    /// A notifier socket for `token` (`Authorization: Bearer`, or with `viaQuery` as a
    /// browser opens it: a ticket from `POST /v1/notify/ticket`, then `?ticket=`),
    /// upgraded and checked: 101 with the right `Sec-WebSocket-Accept`. The `ready`
    /// frame is left unread.
    static func open(_ server: TestServer, token: String, viaQuery: Bool = false) throws -> WebSocketTestClient {
        try open(port: server.port, token: token, viaQuery: viaQuery)
    }

    /// `open` by port, for helper threads (a TestServer stays on the test's thread).
    static func open(port: UInt16, token: String, viaQuery: Bool = false) throws -> WebSocketTestClient {
        let ws = try WebSocketTestClient(port: port)
        var keyBytes = [UInt8](repeating: 0, count: 16)
        for i in keyBytes.indices { keyBytes[i] = UInt8.random(in: 0...255, using: &ws.rng) }
        let key = Base64.encode(keyBytes)
        let r = viaQuery
            ? try ws.requestUpgrade("/v1/notify?ticket=\(try ticket(port: port, token: token))", headers: upgradeHeaders(key: key))
            : try ws.requestUpgrade("/v1/notify", token: token, headers: upgradeHeaders(key: key))
        guard r.status == 101 else { throw Failure.refused(r) }
        guard r.header("upgrade")?.lowercased() == "websocket",
              r.header("sec-websocket-accept") == WebSocketHandshake.acceptKey(for: key) else {
            throw Failure.malformed("101 headers \(r.headers)")
        }
        return ws
    }

    /// A single-use `/v1/notify` ticket for `token` (`POST /v1/notify/ticket`).
    static func ticket(port: UInt16, token: String) throws -> String {
        let r = try HTTPTestClient(port: port).request("POST", "/v1/notify/ticket", token: token)
        guard r.status == 201, let ticket = r.json["ticket"]?.stringValue else { throw Failure.refused(r) }
        return ticket
    }

    /// `open`, then the first frame, which must be `ready`; returns the socket and its cursor.
    static func openReady(_ server: TestServer, token: String, viaQuery: Bool = false) throws -> (WebSocketTestClient, String) {
        try openReady(port: server.port, token: token, viaQuery: viaQuery)
    }

    static func openReady(port: UInt16, token: String, viaQuery: Bool = false) throws -> (WebSocketTestClient, String) {
        let ws = try open(port: port, token: token, viaQuery: viaQuery)
        let f = try ws.readFrame()
        guard f.type == "ready", let cursor = f.cursor else { throw Failure.malformed("first frame is not ready: \(f)") }
        return (ws, cursor)
    }

    private func readHTTPResponse() throws -> HTTPTestResponse {
        let deadline = ContinuousClock.now + .seconds(5)
        var headEnd: Int?
        while headEnd == nil {
            headEnd = buffer.firstRange(of: [13, 10, 13, 10])?.lowerBound
            if headEnd == nil { try fill(until: deadline) }
        }
        let end = headEnd!
        var lines = String(decoding: buffer[..<end], as: UTF8.self).split(separator: "\r\n").map(String.init)
        buffer.removeFirst(end + 4)
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw Failure.malformed("status line \(statusLine)")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw Failure.malformed("header line \(line)") }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " })))
        }
        var response = HTTPTestResponse(status: status, headers: headers, body: [])
        if status == 101 { return response }   // what follows are frames
        let length = response.header("content-length").flatMap(Int.init) ?? 0
        while buffer.count < length { try fill(until: deadline) }
        response.body = Array(buffer[..<length])
        buffer.removeFirst(length)
        return response
    }

    // MARK: frames

    /// Sends one client frame, masked with a fresh key (RFC 6455 §5.3).
    func send(opcode: UInt8, _ payload: [UInt8] = [], fin: Bool = true) {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            out.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            out += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((UInt64(payload.count) >> UInt64(shift)) & 0xFF)) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255, using: &rng) }
        out += mask
        for (i, b) in payload.enumerated() { out.append(b ^ mask[i & 3]) }
        write(out)
    }

    func sendClose(_ code: UInt16 = 1000) { send(opcode: Frame.close, [UInt8(code >> 8), UInt8(code & 0xFF)]) }

    /// The next server frame, waiting at most `timeout` seconds. Server frames must be
    /// unmasked (§5.1) with no reserved bits.
    func readFrame(timeout: Double = 5) throws -> Frame {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var at = ContinuousClock.now
        while true {
            if let frame = try parseFrame(at) { return frame }
            try fill(until: deadline)
            at = ContinuousClock.now
        }
    }

    /// The next `mail`/`ready` message, answering (and skipping) server pings on the way.
    func readNotification(timeout: Double = 5) throws -> Frame {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            let left = (deadline - ContinuousClock.now).seconds
            guard left > 0 else { throw Failure.timedOut }
            let f = try readFrame(timeout: left)
            if f.opcode == Frame.ping { send(opcode: Frame.pong, f.payload); continue }
            guard f.opcode == Frame.text else { throw Failure.malformed("expected a text frame, got \(f)") }
            return f
        }
    }

    /// Reads notifications until one carries `cursor` (true) or nothing more arrives
    /// within `timeout` (false). Collects everything read into `seen`.
    func readUntil(cursor: String, timeout: Double = 2, seen: inout [Frame]) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            guard let f = try? readNotification(timeout: max(0.001, (deadline - ContinuousClock.now).seconds)) else { return false }
            seen.append(f)
            if f.cursor == cursor { return true }
        }
        return false
    }

    /// True if no byte at all arrives within `seconds` (nothing buffered either).
    func staysSilent(for seconds: Double) -> Bool {
        guard buffer.isEmpty else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(seconds * 1000)) == 0
    }

    /// True if the server closes the connection (EOF or RST) within `timeout`, with
    /// no further bytes before it.
    func isClosedByPeer(timeout: Double = 2) -> Bool {
        guard buffer.isEmpty else { return false }
        setReceiveTimeout(timeout)
        var b: UInt8 = 0
        let n = Glibc.recv(fd, &b, 1, 0)
        if n == 1 { buffer.append(b) }
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }

    private func parseFrame(_ at: ContinuousClock.Instant) throws -> Frame? {
        guard buffer.count >= 2 else { return nil }
        guard buffer[0] & 0x70 == 0 else { throw Failure.malformed("reserved bits set: \(buffer[0])") }
        guard buffer[1] & 0x80 == 0 else { throw Failure.malformed("server frame is masked") }
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard buffer.count >= 4 else { return nil }
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            offset = 4
        } else if length == 127 {
            guard buffer.count >= 10 else { return nil }
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        guard buffer.count >= offset + length else { return nil }
        let frame = Frame(fin: buffer[0] & 0x80 != 0, opcode: buffer[0] & 0x0F,
                          payload: Array(buffer[offset..<(offset + length)]), receivedAt: at)
        buffer.removeFirst(offset + length)
        return frame
    }

    // MARK: socket

    private func setReceiveTimeout(_ seconds: Double) {
        let s = max(seconds, 0.001)
        var tv = timeval(tv_sec: Int(s), tv_usec: Int((s - Double(Int(s))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private func fill(until deadline: ContinuousClock.Instant) throws {
        while true {
            let left = (deadline - ContinuousClock.now).seconds
            guard left > 0 else { throw Failure.timedOut }
            setReceiveTimeout(left)
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
                return
            }
            if n == 0 { throw Failure.closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw Failure.timedOut }
            throw Failure.closed
        }
    }

    private func write(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }   // the read that follows reports the failure
            off += n
        }
    }
}
