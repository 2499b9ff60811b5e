import Glibc

/// Monotonic seconds (CLOCK_MONOTONIC), for the load test's timings.
enum MonoTime {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
