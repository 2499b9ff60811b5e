import Glibc

/// A minimal blocking HTTP/1.1 client for server-side callers (the push webhook):
/// one request per connection (`Connection: close`), connect and I/O timeouts,
/// Content-Length or read-to-close bodies. Plain http:// only (no TLS in this build).
public struct HTTPClient: Sendable {
    public struct Response: Sendable {
        public let status: Int
        public let body: [UInt8]
    }

    public enum ClientError: Error, Equatable, CustomStringConvertible {
        case invalidURL(String)
        case resolve(String)
        case connect(String)
        case timeout
        case io(String)
        /// The answer is not HTTP/1.x we can act on; the reason says which part.
        case malformedResponse(String)

        public var description: String {
            switch self {
            case .invalidURL(let u): return "invalid URL \(u)"
            case .resolve(let h): return "cannot resolve \(h)"
            case .connect(let e): return "connect: \(e)"
            case .timeout: return "timed out"
            case .io(let e): return "I/O: \(e)"
            case .malformedResponse(let why): return "malformed response: \(why)"
            }
        }
    }

    public struct URLParts: Sendable, Equatable {
        public let host: String
        public let port: UInt16
        public let path: String
    }

    public let timeout: Duration

    public init(timeout: Duration = .seconds(10)) { self.timeout = timeout }

    /// A webhook has no business answering more than this (head or body).
    public static let maxResponseBytes = 1 << 20

    /// `http://host[:port][/path]`.
    public static func parse(_ url: String) throws(ClientError) -> URLParts {
        guard url.hasPrefix("http://") else { throw .invalidURL(url) }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first, !host.isEmpty, parts.count <= 2 else { throw .invalidURL(url) }
        var port: UInt16 = 80
        if parts.count == 2 {
            guard let p = UInt16(parts[1]), p > 0 else { throw .invalidURL(url) }
            port = p
        }
        return URLParts(host: String(host), port: port, path: path)
    }

    public func post(_ url: URLParts, json body: [UInt8], headers: [(String, String)] = []) throws(ClientError) -> Response {
        let fd = try connect(url)
        defer { close(fd) }
        var head = "POST \(url.path) HTTP/1.1\r\nHost: \(url.host):\(url.port)\r\nConnection: close\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nUser-Agent: pigeonhole\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        var off = 0
        while off < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw errno == EAGAIN ? .timeout : .io(String(cString: strerror(errno))) }
            off += n
        }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw errno == EAGAIN ? .timeout : .io(String(cString: strerror(errno))) }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
            if let r = try Self.parseResponse(data) { return r }
        }
        guard let r = try Self.parseResponse(data, eof: true) else {
            throw .malformedResponse("connection closed before the response was complete")
        }
        return r
    }

    private func connect(_ url: URLParts) throws(ClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(url.host, String(url.port), &hints, &result) == 0, let info = result else { throw .resolve(url.host) }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .connect(String(cString: strerror(errno))) }
        let (s, atto) = timeout.components
        var tv = timeval(tv_sec: Int(s), tv_usec: Int(atto / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        // SO_SNDTIMEO also bounds a blocking connect(2) on Linux.
        guard Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let e = errno
            close(fd)
            throw e == EINPROGRESS || e == EAGAIN ? .timeout : .connect(String(cString: strerror(e)))
        }
        return fd
    }
}
