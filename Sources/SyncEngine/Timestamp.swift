import JSON

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-23T05:17:48.123Z` (openapi.yaml, the `Timestamp` schema).
/// Written byte by byte: every message in every pull carries one.
public enum Timestamp {
    public static func rfc3339(_ millis: Int64) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxBytes) { b in
            String(decoding: UnsafeBufferPointer(rebasing: b[..<write(millis, into: b.baseAddress!)]), as: UTF8.self)
        }
    }

    /// The most bytes `write` writes (a year past 9999 takes more than four digits).
    public static let maxBytes = 40

    /// Writes the timestamp as a JSON string, quotes included (no escaping needed), at
    /// `out` (room for `maxBytes + 2`), and returns how many bytes.
    public static func writeJSON(_ millis: Int64, into out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = UInt8(ascii: "\"")
        let n = write(millis, into: out + 1)
        out[n + 1] = UInt8(ascii: "\"")
        return n + 2
    }

    /// Writes the timestamp at `out` (room for `maxBytes`) and returns how many bytes.
    static func write(_ millis: Int64, into out: UnsafeMutablePointer<UInt8>) -> Int {
        let (secondsOfEpoch, ms) = floorDivMod(millis, 1000)
        let (days, secondOfDay) = floorDivMod(secondsOfEpoch, 86_400)
        let (year, month, day) = civil(fromDays: days)
        var p = out
        // Years before 1 BC and after 9999 are outside RFC 3339; they are written as
        // ISO 8601's expanded years are (a sign, at least four digits). The server's clock
        // writes neither.
        var y = year
        if y < 0 {
            p[0] = UInt8(ascii: "-")
            p += 1
            y = -y
        }
        if y <= 9999 {
            JSONDigits.padded(y, 4, into: p)
            p += 4
        } else {
            p += JSONDigits.decimal(y, into: p)
        }
        p[0] = UInt8(ascii: "-"); JSONDigits.padded(month, 2, into: p + 1)
        p[3] = UInt8(ascii: "-"); JSONDigits.padded(day, 2, into: p + 4)
        p[6] = UInt8(ascii: "T"); JSONDigits.padded(secondOfDay / 3600, 2, into: p + 7)
        p[9] = UInt8(ascii: ":"); JSONDigits.padded(secondOfDay / 60 % 60, 2, into: p + 10)
        p[12] = UInt8(ascii: ":"); JSONDigits.padded(secondOfDay % 60, 2, into: p + 13)
        p[15] = UInt8(ascii: "."); JSONDigits.padded(ms, 3, into: p + 16)
        p[19] = UInt8(ascii: "Z")
        return p + 20 - out
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
}

extension JSONWriter {
    /// A timestamp as a JSON string (RFC 3339, as `Timestamp.rfc3339`), written in place.
    public mutating func timestamp(_ millis: Int64) {
        raw(maxBytes: Timestamp.maxBytes + 2) { Timestamp.writeJSON(millis, into: $0) }
    }
}
