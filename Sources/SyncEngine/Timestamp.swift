import Glibc

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-23T05:17:48.123Z` (DESIGN.md, API conventions).
public enum Timestamp {
    public static func rfc3339(_ millis: Int64) -> String {
        var t = time_t(millis / 1000)
        let ms = Int(millis % 1000)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(Int(tm.tm_year) + 1900, 4))-\(pad(Int(tm.tm_mon) + 1, 2))-\(pad(Int(tm.tm_mday), 2))T"
            + "\(pad(Int(tm.tm_hour), 2)):\(pad(Int(tm.tm_min), 2)):\(pad(Int(tm.tm_sec), 2)).\(pad(ms, 3))Z"
    }
}
