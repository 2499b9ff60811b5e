import Glibc

/// Errors of the socket layer. They carry errno for logs; they never reach a client.
public enum SocketError: Error, CustomStringConvertible {
    case invalidAddress(String)
    case system(call: String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidAddress(let host): return "invalid IPv4 address: \(host)"
        case .system(let call, let code): return "\(call) failed: \(String(cString: strerror(code)))"
        }
    }
}
