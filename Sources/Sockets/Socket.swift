import CLinux
import Glibc

/// Thin wrappers over the BSD socket calls the server needs. Everything is non-blocking
/// and close-on-exec.
package enum Socket {
    package static let streamFlags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)

    /// A listening TCP socket bound to host:port with SO_REUSEADDR. Deliberately not
    /// SO_REUSEPORT: with it a second server could bind the same port without an error
    /// and silently take half the connections. The loops share this one socket instead
    /// (EPOLLEXCLUSIVE wakes one loop per connection).
    package static func listen(host: String, port: UInt16, backlog: Int32 = 4096) throws -> (fd: Int32, port: UInt16) {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw SocketError.invalidAddress(host) }

        let fd = socket(AF_INET, streamFlags, 0)
        guard fd >= 0 else { throw SocketError.system(call: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw SocketError.system(call: "bind \(host):\(port)", errno: e)
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw SocketError.system(call: "listen", errno: e)
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    /// accept4 with the peer's IPv4 address as text. Returns nil on EAGAIN.
    package static func accept(_ listenFD: Int32) -> (fd: Int32, peer: String)? {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        while true {
            let fd = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(listenFD, $0, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd >= 0 {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return (fd, ipv4String(addr.sin_addr))
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            return nil
        }
    }

    static func ipv4String(_ a: in_addr) -> String {
        var a = a
        var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        return buf.withUnsafeMutableBufferPointer { p in
            guard inet_ntop(AF_INET, &a, p.baseAddress, socklen_t(INET_ADDRSTRLEN)) != nil else { return "?" }
            return String(cString: p.baseAddress!)
        }
    }

    /// Raises the soft open-file limit to the hard limit (each connection is one fd).
    @discardableResult
    package static func raiseOpenFileLimit() -> (old: UInt64, new: UInt64) {
        var rl = rlimit()
        let res = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        getrlimit(res, &rl)
        let old = UInt64(rl.rlim_cur)
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max
            setrlimit(res, &rl)
        }
        getrlimit(res, &rl)
        return (old, UInt64(rl.rlim_cur))
    }
}
