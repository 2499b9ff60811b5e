import Glibc
@testable import HTTPServer

/// A blocking TCP client for byte-exact tests. Every read has a timeout (SO_RCVTIMEO),
/// so a server bug fails the test instead of hanging it.
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    struct Response {
        var status: Int
        var reason: String
        var headers: [(String, String)]
        var body: [UInt8]
        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    init(port: UInt16, timeout: Double = 5) throws {
        fd = try Self.connect(port: port)
        setTimeout(timeout)
    }

    /// A blocking socket connected to 127.0.0.1:`port`; with `buffers`, its kernel send
    /// and receive buffers are set that small before connecting.
    static func connect(port: UInt16, buffers: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = buffers {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw SocketError.system(call: "connect", errno: e)
        }
        return fd
    }

    func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Sends one byte per write with a tiny pause, so the server sees many partial reads.
    /// The pause is the point (a client that trickles on a real socket); the parsers'
    /// byte-at-a-time splits are checked without sockets in RequestHeadParserTests and
    /// ChunkedDecoderTests.
    func sendSlowly(_ text: String, pauseMicros: UInt32 = 200) {
        for b in text.utf8 {
            send([b])
            usleep(pauseMicros)
        }
    }

    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Resets the connection (SO_LINGER 0): the peer vanishes without a goodbye.
    func abort() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }

    /// Exactly `n` bytes (buffered first), or nil on EOF/timeout.
    func readBytes(_ n: Int) -> [UInt8]? {
        while buffer.count < n { if !fill() { return nil } }
        defer { buffer.removeFirst(n) }
        return Array(buffer[0..<n])
    }

    /// Reads more bytes; false on EOF or timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// True if the server closed the connection (EOF) before `timeout`, with nothing unread.
    func isClosedByPeer(timeout: Double = 2) -> Bool {
        setTimeout(timeout)
        if !buffer.isEmpty { return false }
        var b: UInt8 = 0
        let n = Glibc.recv(fd, &b, 1, 0)
        if n == 1 { buffer.append(b) }
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }

    /// Everything until EOF.
    func readToEnd() -> [UInt8] {
        while fill() {}
        defer { buffer.removeAll() }
        return buffer
    }

    /// Parses one response (Content-Length framed, or up to EOF without one).
    func readResponse(isHead: Bool = false) -> Response? {
        let sep: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int? = nil
        while headEnd == nil {
            if let r = find(sep) { headEnd = r } else if !fill() { return nil }
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2).map(String.init)
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.map { line -> (String, String) in
            let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
            return (parts[0], parts.count > 1 ? parts[1].trimmedOWS() : "")
        }
        var response = Response(status: status, reason: statusLine.count > 2 ? statusLine[2] : "", headers: headers, body: [])
        if status == 100 || status == 204 || isHead { return response }
        if let cl = response.header("content-length").flatMap(Int.init) {
            while buffer.count < cl { if !fill() { return nil } }
            response.body = Array(buffer[0..<cl])
            buffer.removeFirst(cl)
        } else {
            response.body = readToEnd()
        }
        return response
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for i in 0...(buffer.count - needle.count) where buffer[i] == needle[0] {
            if Array(buffer[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

import Foundation
import Sockets
