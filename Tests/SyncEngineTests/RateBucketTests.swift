import SyncEngine
import Testing

/// The one token-bucket arithmetic both backends run (PostgreSQL's `ph_take_tokens`
/// repeats it in SQL; the buckets through a store: StoreConformanceTests+RateBuckets).
@Suite struct RateBucketTests {
    static let bucket = RateBucket(key: "send:d1", ratePerSecond: 10, burst: 20, what: "messages from this device")

    @Test(arguments: [
        (Double?.none, Int64(0), Int64(0), 20.0),   // never charged: a full burst
        (0, 0, 500, 5),                             // 10/s for half a second
        (0, 0, 1, 0.01),
        (12, 1_000, 1_300, 15),
        (19, 0, 60_000, 20),                        // capped at the burst
        (20, 0, 1_000, 20),
        (-5, 0, 1_000, 5),                          // out of debt at the same rate
        (-20, 0, 1_000, -10),
        (7, 5_000, 4_000, 7),                       // a clock behind the last charge refills nothing
    ] as [(Double?, Int64, Int64, Double)])
    func refilled(_ tokens: Double?, _ last: Int64, _ at: Int64, _ expected: Double) {
        let got = RateBuckets.refilled(tokens, last: last, bucket: Self.bucket, at: at)
        #expect(abs(got - expected) < 1e-9, "\(got)")
    }

    @Test func aBurstIsAtLeastOneToken() {
        #expect(RateBucket(key: "k", ratePerSecond: 1, burst: 0, what: "w").burst == 1)
        #expect(RateBucket(key: "k", ratePerSecond: 1, burst: 0.5, what: "w").burst == 1)
        #expect(RateBucket(key: "k", ratePerSecond: 1, burst: 3, what: "w").burst == 3)
        #expect(RateBuckets.refilled(nil, last: 0, bucket: RateBucket(key: "k", ratePerSecond: 1, burst: 0, what: "w"), at: 0) == 1)
    }
}
