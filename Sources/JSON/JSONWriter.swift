/// Streams JSON straight into bytes (no intermediate tree), for responses on the hot
/// path. Commas are placed automatically; keys and values alternate inside objects.
///
///     var w = JSONWriter()
///     w.object { w in
///         w.key("seq"); w.int(7)
///         w.key("body"); w.raw(storedJSONText)   // already-valid JSON, copied as is
///     }
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// One flag per open container: does the next element need a comma?
    private var needsComma: [Bool] = [false]
    private var afterKey = false

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    private mutating func separator() {
        if afterKey {
            afterKey = false
            return
        }
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separator()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
        body(&self)
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        separator()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
        body(&self)
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func key(_ k: String) {
        separator()
        JSONValue.appendString(k, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func string(_ s: String) {
        separator()
        JSONValue.appendString(s, to: &bytes)
    }

    public mutating func int(_ v: Int64) {
        separator()
        JSONWriter.appendDecimal(v, to: &bytes)
    }

    public mutating func int(_ v: Int) { int(Int64(v)) }

    /// Decimal digits without going through String (this runs for every number written).
    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value == 0 { out.append(UInt8(ascii: "0")); return }
        var v = value.magnitude
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { buf in
            while v > 0 {
                buf[n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            }
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(buf[i]) }
        }
    }

    public mutating func bool(_ b: Bool) {
        separator()
        bytes.append(contentsOf: (b ? "true" : "false").utf8)
    }

    public mutating func null() {
        separator()
        bytes.append(contentsOf: "null".utf8)
    }

    /// Inserts text that is already valid JSON (a stored message body).
    public mutating func raw(_ json: String) {
        separator()
        bytes.append(contentsOf: json.utf8)
    }

    /// Inserts bytes that `write` appends, which must be one valid JSON value (e.g. a
    /// timestamp string written without an intermediate String).
    public mutating func raw(_ write: (inout [UInt8]) -> Void) {
        separator()
        write(&bytes)
    }

    public mutating func value(_ v: JSONValue) {
        separator()
        v.append(to: &bytes)
    }

    /// Convenience: `"key": value` pairs.
    public mutating func field(_ k: String, _ s: String) { key(k); string(s) }
    public mutating func field(_ k: String, _ v: Int64) { key(k); int(v) }
    public mutating func field(_ k: String, _ v: Int) { key(k); int(Int64(v)) }
    public mutating func field(_ k: String, _ b: Bool) { key(k); bool(b) }
    public mutating func field(_ k: String, optional s: String?) {
        key(k)
        if let s { string(s) } else { null() }
    }
}
