import SyncEngine

extension PGWriter: RateBucketsWrites {
    /// One call of `ph_take_tokens` (migrations/postgres/0010_rate_buckets.sql): the
    /// bucket's row is locked to the commit, so the nodes take from it one at a time.
    /// Run as a lock, not a write: whatever the unit does next, a refused take leaves
    /// nothing to undo, and a taken token stays taken if the unit then fails (a request
    /// counts whether or not it succeeds, as in memory), so neither makes the batch roll
    /// back and replay.
    public func takeTokens(_ bucket: RateBucket, cost: Double, at: Int64, debt: Bool) throws -> Int {
        var wait = 0
        try lock("SELECT ph_take_tokens($1, $2, $3, $4, $5, $6)",
                 [.text(bucket.key), .double(bucket.ratePerSecond), .double(bucket.burst), .double(cost), .int(at), .bool(debt)]) {
            wait = $0.int(0)
        }
        return wait
    }
}
