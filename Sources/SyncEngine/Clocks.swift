import Glibc

/// The two clocks the server runs on, passed down from its configuration so tests can
/// age data (retention, receipts windows, rate-limit buckets) without sleeping.
/// - `wallMillis`: milliseconds since the Unix epoch (timestamps, retention, receipts
///   windows, push backoff);
/// - `monotonicNanos`: nanoseconds of a clock that never jumps (token buckets).
/// (Transport timeouts, in HTTPServer, stay on the system's monotonic clock.)
public struct Clocks: Sendable {
    public var wallMillis: @Sendable () -> Int64
    public var monotonicNanos: @Sendable () -> UInt64

    public init(wallMillis: @escaping @Sendable () -> Int64, monotonicNanos: @escaping @Sendable () -> UInt64) {
        self.wallMillis = wallMillis
        self.monotonicNanos = monotonicNanos
    }

    public static let system = Clocks(wallMillis: SyncEngine.nowMillis, monotonicNanos: {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    })
}
