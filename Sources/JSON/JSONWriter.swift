/// Streams JSON straight into bytes (no intermediate tree), for responses on the hot
/// path. Commas are placed automatically; keys and values alternate inside objects.
///
///     var w = JSONWriter()
///     w.object { w in
///         w.key("seq"); w.int(7)
///         w.key("body"); w.raw(storedJSONText)   // already-valid JSON, copied as is
///     }
///
/// The bytes live in a buffer of the writer's own, written through a pointer: a page of
/// a thousand events is tens of thousands of small appends, and an `Array`'s append
/// checks uniqueness and capacity on every one. A writer is used in one place and read
/// once (`bytes`); it cannot be copied (two copies would write into one buffer).
public struct JSONWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    /// Does the next element of the innermost open container need a comma? (No stack of
    /// these is needed: when a container closes, the one around it holds at least that
    /// container, so its next element needs one.)
    private var needsComma = false
    private var afterKey = false

    public init(capacity: Int = 256) {
        self.capacity = max(capacity, 32)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// What was written so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inline(__always) private mutating func separator() {
        if afterKey {
            afterKey = false
        } else {
            if needsComma { append(UInt8(ascii: ",")) }
            needsComma = true
        }
    }

    @inline(__always) private mutating func open(_ bracket: UInt8) {
        separator()
        append(bracket)
        needsComma = false
    }

    @inline(__always) private mutating func close(_ bracket: UInt8) {
        append(bracket)
        needsComma = true
    }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        open(UInt8(ascii: "{"))
        body(&self)
        close(UInt8(ascii: "}"))
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        open(UInt8(ascii: "["))
        body(&self)
        close(UInt8(ascii: "]"))
    }

    /// A key written in the source: copied as is (no escaping: the program's own keys
    /// are plain `snake_case`).
    public mutating func key(_ k: StaticString) {
        separator()
        k.withUTF8Buffer { appendKey($0) }
        afterKey = true
    }

    /// A key from data (escaped as any string).
    public mutating func key(text k: String) {
        separator()
        appendString(k)
        append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func string(_ s: String) {
        separator()
        appendString(s)
    }

    public mutating func int(_ v: Int64) {
        separator()
        appendDecimal(v)
    }

    public mutating func int(_ v: Int) { int(Int64(v)) }

    public mutating func bool(_ b: Bool) {
        separator()
        append(contentsOf: b ? "true" : "false")
    }

    public mutating func null() {
        separator()
        append(contentsOf: "null")
    }

    /// Inserts text that is already valid JSON (a stored message body).
    public mutating func raw(_ json: String) {
        separator()
        append(contentsOf: json)
    }

    /// Inserts bytes that are already one valid JSON value (an event encoded before).
    public mutating func raw(_ json: [UInt8]) {
        separator()
        json.withUnsafeBufferPointer { append($0) }
    }

    /// Inserts at most `maxBytes` bytes that `write` puts at the pointer it is given and
    /// counts in its result; they must be one valid JSON value (e.g. a timestamp string
    /// written without an intermediate String).
    public mutating func raw(maxBytes: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) {
        separator()
        reserve(maxBytes)
        let n = write(base + count)
        precondition(n >= 0 && n <= maxBytes, "wrote past what it reserved")
        count += n
    }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let text): raw(text)
        case .string(let s): string(s)
        case .array(let items): array { w in for item in items { w.value(item) } }
        case .object(let members): object { w in for (k, item) in members { w.key(text: k); w.value(item) } }
        }
    }

    /// Convenience: `"key": value` pairs.
    public mutating func field(_ k: StaticString, _ s: String) { key(k); string(s) }
    public mutating func field(_ k: StaticString, _ v: Int64) { key(k); int(v) }
    public mutating func field(_ k: StaticString, _ v: Int) { key(k); int(Int64(v)) }
    public mutating func field(_ k: StaticString, _ b: Bool) { key(k); bool(b) }
    public mutating func field(_ k: StaticString, optional s: String?) {
        key(k)
        if let s { string(s) } else { null() }
    }

    /// Room for `n` more bytes.
    @inline(__always) private mutating func reserve(_ n: Int) {
        if capacity - count < n { grow(count + n) }
    }

    private mutating func grow(_ needed: Int) {
        let newCapacity = max(capacity * 2, needed)
        let new = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        new.update(from: base, count: count)
        base.deallocate()
        base = new
        capacity = newCapacity
    }

    @inline(__always) private mutating func append(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    private mutating func append(_ p: UnsafeBufferPointer<UInt8>) {
        guard let start = p.baseAddress, p.count > 0 else { return }
        reserve(p.count)
        (base + count).update(from: start, count: p.count)
        count += p.count
    }

    private mutating func append(contentsOf s: String) {
        var s = s
        s.withUTF8 { append($0) }
    }

    private static let hexDigits: StaticString = "0123456789abcdef"

    /// `s` as a JSON string, escaping `"`, `\` and control characters (RFC 8259 §7).
    /// Runs that need no escape are copied whole (keys, names, ids: usually all of it).
    private mutating func appendString(_ s: String) {
        var s = s
        s.withUTF8 { bytes in
            reserve(bytes.count + 2)
            base[count] = UInt8(ascii: "\"")
            count += 1
            var runStart = 0
            for i in 0..<bytes.count {
                let b = bytes[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                append(UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                runStart = i + 1
                reserve(6 + bytes.count - i)
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): put(UInt8(ascii: "\\"), b)
                case 0x0A: put(UInt8(ascii: "\\"), UInt8(ascii: "n"))
                case 0x0D: put(UInt8(ascii: "\\"), UInt8(ascii: "r"))
                case 0x09: put(UInt8(ascii: "\\"), UInt8(ascii: "t"))
                default:
                    put(UInt8(ascii: "\\"), UInt8(ascii: "u"))
                    put(UInt8(ascii: "0"), UInt8(ascii: "0"))
                    JSONWriter.hexDigits.withUTF8Buffer { put($0[Int(b >> 4)], $0[Int(b & 0xF)]) }
                }
            }
            append(UnsafeBufferPointer(rebasing: bytes[runStart...]))
            append(UInt8(ascii: "\""))
        }
    }

    /// `"key":`
    @inline(__always) private mutating func appendKey(_ k: UnsafeBufferPointer<UInt8>) {
        reserve(k.count + 3)
        base[count] = UInt8(ascii: "\"")
        (base + count + 1).update(from: k.baseAddress!, count: k.count)
        count += k.count + 3
        base[count - 2] = UInt8(ascii: "\"")
        base[count - 1] = UInt8(ascii: ":")
    }

    /// Two bytes; room for them was reserved.
    @inline(__always) private mutating func put(_ a: UInt8, _ b: UInt8) {
        base[count] = a
        base[count + 1] = b
        count += 2
    }

    private mutating func appendDecimal(_ value: Int64) {
        reserve(20)
        count += JSONDigits.decimal(value, into: base + count)
    }
}

/// Decimal digits straight into memory, no String in between.
public enum JSONDigits {
    /// Writes `value` in decimal at `out` (at most 20 bytes) and returns how many bytes.
    public static func decimal(_ value: Int64, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var v = value.magnitude
        var n = 0
        if value < 0 { out[0] = UInt8(ascii: "-"); n = 1 }
        var width = 1
        var limit: UInt64 = 10
        while v >= limit && width < 20 {
            width += 1
            if limit > UInt64.max / 10 { break }
            limit *= 10
        }
        var i = n + width - 1
        repeat {
            out[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
            v /= 10
            i -= 1
        } while v > 0
        return n + width
    }

    /// Writes `v` (0 ≤ v < 10^width) in exactly `width` digits, zero-padded.
    @inline(__always) public static func padded(_ v: Int64, _ width: Int, into out: UnsafeMutablePointer<UInt8>) {
        var x = v.magnitude
        for i in stride(from: width - 1, through: 0, by: -1) {
            out[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: x % 10)
            x /= 10
        }
    }
}
