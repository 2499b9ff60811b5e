// Rate limits shared by every node of a cluster (issue 20, item 5). Each node keeps
// token buckets in memory (SyncAPI's RateLimiter), which refuse a flood before it costs
// anything; over one database several nodes would each allow the whole rate. So a
// write that a limit covers also takes its token from a bucket in the database, inside
// the unit that does the write (for a send, in the same statement): the cluster as a
// whole allows what one node would, and no request gets a round trip of its own for it.

/// A token bucket: up to `burst` tokens, refilled at `ratePerSecond`, named by `key`
/// (`send:d<device>`, `rooms:d<device>`, `members:d<device>`, `membership:r<room>`).
public struct RateBucket: Sendable, Equatable {
    public let key: String
    public let ratePerSecond: Double
    public let burst: Double
    /// What the limit is on, for the 429's message ("messages from this device").
    public let what: String

    public init(key: String, ratePerSecond: Double, burst: Double, what: String) {
        self.key = key
        self.ratePerSecond = ratePerSecond
        self.burst = max(1, burst)
        self.what = what
    }
}

public protocol RateBucketsWrites {
    /// Refills `bucket` to `at` (milliseconds; a clock behind the bucket's refills
    /// nothing) and takes `cost` tokens: 0 when taken, else the milliseconds until they
    /// would be (nothing taken). With `debt`, the cost is taken whatever is left, down to
    /// one burst below zero (a cost known only after the work), and 0 is returned. A cost
    /// of 0 asks whether the bucket is out of debt. The bucket's row is locked to the
    /// commit: take buckets first in a unit, before any room or user row.
    func takeTokens(_ bucket: RateBucket, cost: Double, at: Int64, debt: Bool) throws -> Int
}

public enum RateBuckets {
    /// Takes `cost` tokens from `bucket`, or throws `rateLimited` with the wait.
    public static func take(_ ctx: WriteContext, _ bucket: RateBucket?, cost: Double = 1) throws {
        guard let bucket, bucket.ratePerSecond > 0 else { return }
        let wait = try ctx.store.takeTokens(bucket, cost: cost, at: ctx.now, debt: false)
        if wait > 0 { throw SyncError.rateLimited(retryAfterMillis: wait, what: bucket.what) }
    }

    /// Charges `cost` after the fact, into debt if it must.
    public static func charge(_ ctx: WriteContext, _ bucket: RateBucket?, cost: Double) throws {
        guard let bucket, bucket.ratePerSecond > 0, cost > 0 else { return }
        _ = try ctx.store.takeTokens(bucket, cost: cost, at: ctx.now, debt: true)
    }

    /// The tokens in a bucket last charged `tokens`/`last`, refilled to `at` (the one
    /// arithmetic both backends run; PostgreSQL's `ph_take_tokens` repeats it in SQL).
    public static func refilled(_ tokens: Double?, last: Int64, bucket: RateBucket, at: Int64) -> Double {
        guard let tokens else { return bucket.burst }
        return min(bucket.burst, tokens + Double(max(0, at - last)) * bucket.ratePerSecond / 1000)
    }
}
