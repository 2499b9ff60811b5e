/// RFC 3339 UTC with milliseconds, e.g. `2026-11-23T05:17:48.123Z` (openapi.yaml, the `Timestamp` schema).
/// Written byte by byte: every message in every pull carries one.
public enum Timestamp {
    public static func rfc3339(_ millis: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        append(millis, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the timestamp as a JSON string, quotes included (no escaping needed).
    public static func appendJSON(_ millis: Int64, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        append(millis, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    static func append(_ millis: Int64, to out: inout [UInt8]) {
        let (secondsOfEpoch, ms) = floorDivMod(millis, 1000)
        let (days, secondOfDay) = floorDivMod(secondsOfEpoch, 86_400)
        let (year, month, day) = civil(fromDays: days)
        digits(year, 4, &out); out.append(UInt8(ascii: "-"))
        digits(month, 2, &out); out.append(UInt8(ascii: "-"))
        digits(day, 2, &out); out.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2, &out); out.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2, &out); out.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2, &out); out.append(UInt8(ascii: "."))
        digits(ms, 3, &out); out.append(UInt8(ascii: "Z"))
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant, "chrono-Compatible
    /// Low-Level Date Algorithms", civil_from_days).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `v` (non-negative) in at least `width` digits, zero-padded.
    private static func digits(_ v: Int64, _ width: Int, _ out: inout [UInt8]) {
        var buf: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var x = v.magnitude
        var n = 0
        withUnsafeMutableBytes(of: &buf) { d in
            repeat {
                d[n] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                n += 1
            } while x > 0 || n < width
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
        }
    }
}
