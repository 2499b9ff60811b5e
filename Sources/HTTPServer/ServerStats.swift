import Synchronization

/// What the loops count together: open and refused connections, requests in flight,
/// upgraded connections (the server's gauges), and open connections per client address.
final class ServerStats: Sendable {
    let connections = Atomic<Int>(0)
    let refusing = Atomic<Int>(0)
    let inFlight = Atomic<Int>(0)
    let upgraded = Atomic<Int>(0)
    /// Open (admitted) connections per client address, for the per-address cap.
    private let perAddress = Mutex<[String: Int]>([:])

    /// Counts a new connection from `address` unless that would pass `limit` (0 = none).
    func admitAddress(_ address: String, limit: Int) -> Bool {
        guard limit > 0 else { return true }
        return perAddress.withLock { counts in
            let n = counts[address, default: 0]
            guard n < limit else { return false }
            counts[address] = n + 1
            return true
        }
    }

    func releaseAddress(_ address: String, limit: Int) {
        guard limit > 0 else { return }
        perAddress.withLock { counts in
            let n = counts[address, default: 0]
            if n <= 1 { counts[address] = nil } else { counts[address] = n - 1 }
        }
    }
}
