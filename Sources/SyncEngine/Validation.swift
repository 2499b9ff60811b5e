/// Input rules of the domain, in one place.
public enum Validation {
    /// User and device names: 1-64 chars of `[a-z0-9._-]`.
    public static func isValidName(_ name: String) -> Bool {
        let u = name.utf8
        guard (1...64).contains(u.count) else { return false }
        return u.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    /// Device names (max 64) and room names (max 128) are display text: 1...max Unicode
    /// code points (what JSON Schema's `maxLength` counts, not grapheme clusters: one
    /// `e` with 20,000 combining accents is one Character and 20,001 code points) and
    /// at most 4 * max UTF-8 bytes, with no C0 or C1 control character, no DEL and no
    /// bidirectional embedding, override or isolate (U+202A-U+202E, U+2066-U+2069), which
    /// would let a name reorder the text displayed after it; and at least one visible
    /// character (not only spaces, zero-width or other invisible format characters: a
    /// room nobody can see the name of).
    public static func isValidDisplayName(_ name: String, max: Int) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 4 * max else { return false }
        var count = 0
        var visible = false
        for scalar in name.unicodeScalars {
            count += 1
            guard count <= max, !isForbiddenInNames(scalar) else { return false }
            if !visible && !isBlank(scalar) { visible = true }
        }
        return visible
    }

    /// Spaces, line and paragraph separators, format characters (zero-width space and
    /// joiners, the BOM) and default-ignorable code points (Hangul fillers, variation
    /// selectors): nothing a reader sees.
    static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        let p = scalar.properties
        if p.isWhitespace || p.isDefaultIgnorableCodePoint { return true }
        switch p.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator, .format: return true
        default: return false
        }
    }

    static func isForbiddenInNames(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true        // C0, DEL, C1
        case 0x202A...0x202E, 0x2066...0x2069: return true  // bidi embeddings, overrides, isolates
        default: return false
        }
    }

    /// `client_msg_id`: 1-64 bytes of printable ASCII.
    public static func isValidClientMsgID(_ id: String) -> Bool {
        let u = id.utf8
        return (1...64).contains(u.count) && u.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// A reaction key (an emoji, a short word): 1-64 bytes of UTF-8 without whitespace or
    /// control characters (so it never holds the separators of `ReactionCounts`), format
    /// characters only as an emoji's joiner (U+200D) or presentation selector (U+FE0F),
    /// and at least one character a reader sees (not only joiners and selectors).
    public static func isValidReactionKey(_ key: String) -> Bool {
        (1...64).contains(key.utf8.count) && key.unicodeScalars.allSatisfy { s in
            !s.properties.isWhitespace && s.properties.generalCategory != .control
                && s.properties.generalCategory != .format || s.value == 0x200D || s.value == 0xFE0F
        } && key.unicodeScalars.contains { !isBlank($0) }
    }
}
