import SyncEngine
import Testing

/// `sent_at` and friends: RFC 3339 UTC with milliseconds, checked against dates
/// computed independently (Python's datetime), leap days and century years included.
@Suite struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (86_399_999, "1970-01-01T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (951_868_799_999, "2000-02-29T23:59:59.999Z"),
        (1_795_420_668_123, "2026-11-23T07:57:48.123Z"),
        (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func formats(_ millis: Int64, _ expected: String) {
        #expect(Timestamp.rfc3339(millis) == expected)
        var json: [UInt8] = []
        Timestamp.appendJSON(millis, to: &json)
        #expect(String(decoding: json, as: UTF8.self) == "\"\(expected)\"")
    }
}
