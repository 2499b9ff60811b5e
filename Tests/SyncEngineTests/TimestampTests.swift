@testable import SyncEngine
import JSON
import Testing

/// `sent_at` and friends: RFC 3339 UTC with milliseconds, checked against dates
/// computed independently (Python's datetime), leap days, century years and times
/// before 1970 included; and the day arithmetic against a calendar counted day by day.
@Suite struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (86_399_999, "1970-01-01T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (951_868_799_999, "2000-02-29T23:59:59.999Z"),
        (946_684_799_999, "1999-12-31T23:59:59.999Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
        (1_795_420_668_123, "2026-11-23T07:57:48.123Z"),
        (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-86_400_000, "1969-12-31T00:00:00.000Z"),
        (-2_208_988_800_000, "1900-01-01T00:00:00.000Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
        (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
        // Outside RFC 3339 (never from the server's clock): ISO 8601's expanded years,
        // the values from the same day arithmetic done in Python.
        (-62_167_219_200_001, "-0001-12-31T23:59:59.999Z"),
        (253_402_300_800_000, "10000-01-01T00:00:00.000Z"),
        (Int64.max, "292278994-08-17T07:12:55.807Z"),
        (Int64.min, "-292275055-05-16T16:47:04.192Z"),
    ])
    func formats(_ millis: Int64, _ expected: String) {
        #expect(Timestamp.rfc3339(millis) == expected)
        var w = JSONWriter()
        w.array { w in w.timestamp(millis) }
        #expect(String(decoding: w.bytes, as: UTF8.self) == "[\"\(expected)\"]")
    }

    /// Written in place one after another, each timestamp grows the writer's buffer as it
    /// needs (from a capacity of one) and comes out as `rfc3339` says.
    @Test func manyInPlaceFromASmallBuffer() {
        let values: [Int64] = (0..<1_000).map { Int64($0) * 7_777_777_777_777 - 3_000_000_000_000_000 } + [Int64.min, Int64.max]
        var w = JSONWriter(capacity: 1)
        w.array { w in for v in values { w.timestamp(v) } }
        #expect(String(decoding: w.bytes, as: UTF8.self) == "[" + values.map { "\"\(Timestamp.rfc3339($0))\"" }.joined(separator: ",") + "]")
    }

    /// `civil(fromDays:)` (a closed formula) against a calendar that counts one day at a
    /// time with the Gregorian leap rule, 1900 to 2100.
    @Test func everyDayFrom1900To2100() {
        func isLeap(_ y: Int64) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }
        func length(_ y: Int64, _ m: Int64) -> Int64 {
            switch m {
            case 2: return isLeap(y) ? 29 : 28
            case 4, 6, 9, 11: return 30
            default: return 31
            }
        }
        var (y, m, d): (Int64, Int64, Int64) = (1900, 1, 1)
        var mismatches = 0
        for days in Int64(-25_567)...Int64(47_846) {   // 1900-01-01 ... 2100-12-31
            let got = Timestamp.civil(fromDays: days)
            if got != (y, m, d) {
                mismatches += 1
                if mismatches <= 3 { Issue.record("day \(days): \(got), counted \(y)-\(m)-\(d)") }
            }
            d += 1
            if d > length(y, m) { d = 1; m += 1 }
            if m > 12 { m = 1; y += 1 }
        }
        #expect(mismatches == 0)
        #expect((y, m, d) == (2101, 1, 1))
    }
}
