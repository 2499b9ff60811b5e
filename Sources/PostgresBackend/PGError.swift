import CPQ
import Glibc

/// An error from libpq or the server. `sqlState` is the five-character SQLSTATE
/// (`40001` serialization failure, `40P01` deadlock, `55P03` lock not available,
/// `23505` unique violation, ...); nil when the connection itself failed.
public struct PGError: Error, CustomStringConvertible, Sendable {
    public let sqlState: String?
    public let message: String
    /// The connection is no longer usable (closed by the server, network, timeout).
    public let connectionLost: Bool

    public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }

    /// Worth running the same work again in a new transaction: a serialization failure,
    /// a deadlock, or a lock wait that ran out (`lock_timeout`).
    public var isRetryable: Bool { Self.isRetryable(sqlState: sqlState) }
    public static func isRetryable(sqlState: String?) -> Bool {
        sqlState == "40001" || sqlState == "40P01" || sqlState == "55P03"
    }
    public var isUniqueViolation: Bool { sqlState == "23505" }
}
