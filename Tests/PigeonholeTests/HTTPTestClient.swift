import Glibc
import JSON

/// A blocking HTTP/1.1 client over one keep-alive TCP connection to 127.0.0.1.
///
/// Every receive has a deadline (SO_RCVTIMEO), so a server that never answers fails
/// the test with `.timedOut` instead of hanging it. Responses are framed by
/// Content-Length (the server always sends it) or have no body (HEAD, 204, 304).
///
/// Confinement: one thread at a time (a test hands a client to a helper thread only
/// while it does not touch it itself); that is why `@unchecked Sendable` is sound.
final class HTTPTestClient: @unchecked Sendable {
    enum Failure: Error, CustomStringConvertible {
        case connect(errno: Int32)
        case timedOut
        case closed
        case malformed(String)

        var description: String {
            switch self {
            case .connect(let e): return "connect failed: errno \(e)"
            case .timedOut: return "no response before the receive timeout"
            case .closed: return "server closed the connection"
            case .malformed(let why): return "malformed response: \(why)"
            }
        }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: UInt16, timeout seconds: Double = 5) throws {
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
        setReceiveTimeout(seconds)
    }

    private var isOpen = true

    deinit { close() }

    /// Closes the socket (a client going away mid-request).
    func close() {
        guard isOpen else { return }
        isOpen = false
        Glibc.close(fd)
    }

    func setReceiveTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    // MARK: requests

    func get(_ path: String, token: String? = nil) throws -> HTTPTestResponse {
        try request("GET", path, token: token)
    }

    func head(_ path: String, token: String? = nil) throws -> HTTPTestResponse {
        try request("HEAD", path, token: token)
    }

    func post(_ path: String, json: JSONValue, token: String? = nil) throws -> HTTPTestResponse {
        try request("POST", path, token: token, body: json.serialized())
    }

    /// POST with a body sent byte for byte (malformed JSON, empty bodies).
    func post(_ path: String, raw: String, token: String? = nil) throws -> HTTPTestResponse {
        try request("POST", path, token: token, body: Array(raw.utf8))
    }

    func delete(_ path: String, token: String? = nil) throws -> HTTPTestResponse {
        try request("DELETE", path, token: token)
    }

    /// One request and its response on this connection.
    func request(_ method: String, _ path: String, token: String? = nil, body: [UInt8]? = nil,
                 headers: [(String, String)] = [], contentType: String = "application/json") throws -> HTTPTestResponse {
        send(method, path, token: token, body: body, headers: headers, contentType: contentType)
        return try readResponse(isHead: method == "HEAD")
    }

    /// Writes a request without waiting for the answer (a parked long-poll).
    func send(_ method: String, _ path: String, token: String? = nil, body: [UInt8]? = nil, headers: [(String, String)] = [],
              contentType: String = "application/json") {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body {
            head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        write(Array(head.utf8) + (body ?? []))
    }

    /// Reads whatever bytes arrive (up to `buffer.count`): the count, 0 at EOF, -1 on
    /// an error or the receive timeout.
    func readRaw(_ buffer: inout [UInt8]) -> Int {
        buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Writes raw bytes (a request in pieces); false if the connection refused them
    /// (reset or closed for writing by the peer).
    @discardableResult
    func writeRaw(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// Waits until bytes from the server (an answer, or its close) can be read, up to
    /// `timeout` seconds.
    func waitReadable(timeout: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(timeout * 1000)) > 0
    }

    /// Waits until the server has taken every byte written so far (none left unacknowledged
    /// in the send queue), up to `timeout` seconds. A reset connection's queue is dropped:
    /// the next write then fails.
    func waitUntilTaken(timeout: Double = 5) -> Bool {
        eventually(timeout: timeout) {
            var queued: Int32 = 0
            return ioctl(fd, UInt(TIOCOUTQ), &queued) != 0 || queued == 0
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

    // MARK: responses

    /// Reads exactly one response off the connection.
    func readResponse(isHead: Bool = false) throws -> HTTPTestResponse {
        let headEnd = try fillUntil { $0.firstRange(of: [13, 10, 13, 10]).map { $0.lowerBound } }
        let headText = String(decoding: buffer[..<headEnd], as: UTF8.self)
        buffer.removeFirst(headEnd + 4)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw Failure.malformed("status line \(lines)")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw Failure.malformed("header line \(line)") }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            headers.append((String(line[..<colon]), String(value)))
        }
        var response = HTTPTestResponse(status: status, headers: headers, body: [])
        if isHead || status == 204 || status == 304 || (100..<200).contains(status) { return response }
        guard let length = response.header("content-length").flatMap(Int.init) else {
            throw Failure.malformed("no Content-Length on a \(status)")
        }
        _ = try fillUntil { $0.count >= length ? length : nil }
        response.body = Array(buffer[..<length])
        buffer.removeFirst(length)
        return response
    }

    /// Receives until `done` finds what it needs in the buffer.
    private func fillUntil<T>(_ done: ([UInt8]) -> T?) throws -> T {
        while true {
            if let found = done(buffer) { return found }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw Failure.closed }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw Failure.timedOut }
                throw Failure.closed
            }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}
