import SQLiteStore
import SyncEngine

extension SQLiteWriter: RateBucketsWrites {
    public func takeTokens(_ bucket: RateBucket, cost: Double, at: Int64, debt: Bool) throws -> Int {
        // The one writer: the read and the write below are one atomic step.
        let row = try sqlite.queryOne("SELECT tokens, at FROM rate_buckets WHERE key = ?", [.text(bucket.key)]) {
            ($0.double(0), $0.int64(1))
        }
        var tokens = RateBuckets.refilled(row?.0, last: row?.1 ?? at, bucket: bucket, at: at)
        var wait = 0
        if debt {
            tokens = max(-bucket.burst, tokens - cost)
        } else if tokens >= cost {
            tokens -= cost
        } else {
            wait = Int(((cost - tokens) / bucket.ratePerSecond * 1000).rounded(.up))
        }
        try sqlite.run("""
            INSERT INTO rate_buckets (key, tokens, at) VALUES (?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, at = max(rate_buckets.at, excluded.at)
            """, [.text(bucket.key), .real(tokens), .integer(max(at, row?.1 ?? at))])
        return wait
    }
}
