import HTTPServer
import Sockets
import Synchronization

/// Token buckets keyed by device or client address (in memory, per process: limits
/// are per node behind a load balancer). A bucket holds up to `burst` tokens and
/// refills at `ratePerSecond`; a request takes one, or learns how long to wait.
final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    let ratePerSecond: Double
    let burst: Double
    private let buckets = Mutex<[Key: Bucket]>([:])
    /// Past this many tracked keys, full (idle) buckets are dropped: they carry no state.
    private let maxKeys = 100_000
    /// Monotonic nanoseconds (injected: tests refill buckets without sleeping).
    private let clock: @Sendable () -> UInt64

    init(ratePerSecond: Double, burst: Double, clock: @escaping @Sendable () -> UInt64 = MonotonicClock.now) {
        self.ratePerSecond = ratePerSecond
        self.burst = max(1, burst)
        self.clock = clock
    }

    var isEnabled: Bool { ratePerSecond > 0 }

    /// Takes a token; nil if allowed, else the milliseconds until one is available.
    func take(_ key: Key, cost: Double = 1, now: UInt64? = nil) -> Int? {
        guard isEnabled else { return nil }
        let now = now ?? clock()
        return buckets.withLock { all in
            var b = refilled(all[key], now: now)
            defer {
                all[key] = b
                if all.count > maxKeys { prune(&all, now: now) }
            }
            if b.tokens >= cost {
                b.tokens -= cost
                return nil
            }
            return Int(((cost - b.tokens) / ratePerSecond * 1000).rounded(.up))
        }
    }

    /// Takes `cost` after the fact (a cost known only once the work is done), going into
    /// debt if it must (at most one burst deep): later `check`s wait until it is paid.
    func charge(_ key: Key, cost: Double, now: UInt64? = nil) {
        guard isEnabled, cost > 0 else { return }
        let now = now ?? clock()
        buckets.withLock { all in
            var b = refilled(all[key], now: now)
            b.tokens = max(-burst, b.tokens - cost)
            all[key] = b
            if all.count > maxKeys { prune(&all, now: now) }
        }
    }

    /// Whether a request costing `cost` would be allowed, without taking anything.
    func check(_ key: Key, cost: Double = 1, now: UInt64? = nil) -> Int? {
        guard isEnabled else { return nil }
        let now = now ?? clock()
        return buckets.withLock { all in
            let b = refilled(all[key], now: now)
            return b.tokens >= cost ? nil : Int(((cost - b.tokens) / ratePerSecond * 1000).rounded(.up))
        }
    }

    private func refilled(_ bucket: Bucket?, now: UInt64) -> Bucket {
        guard var b = bucket else { return Bucket(tokens: burst, updated: now) }
        let elapsed = Double(now &- b.updated) / 1e9
        b.tokens = min(burst, b.tokens + elapsed * ratePerSecond)
        b.updated = now
        return b
    }

    private func prune(_ all: inout [Key: Bucket], now: UInt64) {
        all = all.filter { refilled($0.value, now: now).tokens < burst }
    }
}
