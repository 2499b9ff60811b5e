/// The mutations of the hostile-input tests (the fuzz/ harnesses' kinds of damage, made
/// deterministic): bit flips, truncation, duplication, insertion of CR/LF/NUL/0xFF,
/// huge numbers, invalid UTF-8, random bytes and long runs.
public enum Mutation {
    static let specials: [[UInt8]] = [[13], [10], [13, 10], [0], [0xFF], [0x20], [0x2C], [0x3A], [0x22], [0x5C], [0x5B], [0x7B], [0x2E]]
    static let hugeNumbers = ["99999999999999999999", "ffffffffffffffffff", "18446744073709551616", "9223372036854775808",
                              "9223372036854775807", "-1", "1e999", "-0.0e-0", "000001"]
    static let invalidUTF8: [[UInt8]] = [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFE], [0xE2, 0x82], [0x80]]

    /// `input` with 1 to `maxOps` mutations applied.
    public static func bytes(_ input: [UInt8], _ rng: inout SeededRandom, maxOps: Int = 3) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + rng.below(maxOps)) {
            let at = rng.below(b.count + 1)
            switch rng.below(10) {
            case 0: if !b.isEmpty { b[rng.below(b.count)] ^= UInt8(1) << UInt8(rng.below(8)) }
            case 1: b = Array(b.prefix(at))
            case 2:
                if !b.isEmpty {
                    let s = rng.below(b.count)
                    b.insert(contentsOf: Array(b[s..<min(b.count, s + 1 + rng.below(64))]), at: at)
                }
            case 3: b.insert(contentsOf: rng.pick(specials), at: at)
            case 4: b.insert(contentsOf: Array(rng.pick(hugeNumbers).utf8), at: at)
            case 5:
                if !b.isEmpty {
                    let s = rng.below(b.count)
                    b.removeSubrange(s..<min(b.count, s + 1 + rng.below(16)))
                }
            case 6: if !b.isEmpty { b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            case 7: b.insert(contentsOf: rng.bytes(1 + rng.below(16)), at: at)
            case 8: b.insert(contentsOf: rng.pick(invalidUTF8), at: at)
            default:
                let unit = b.isEmpty ? UInt8(ascii: "a") : b[rng.below(b.count)]
                b.insert(contentsOf: [UInt8](repeating: unit, count: 100 + rng.below(2000)), at: at)
            }
        }
        return b
    }
}
