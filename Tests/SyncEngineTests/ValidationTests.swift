import SyncEngine
import Testing

/// The domain's input rules: user and device names, display names (code points, not
/// graphemes; no controls; no bidi overrides; something visible), client message ids.
@Suite struct ValidationTests {
    @Test(arguments: [
        ("a", true), ("alice", true), ("a.b_c-9", true), (String(repeating: "z", count: 64), true),
        ("", false), (String(repeating: "z", count: 65), false), ("Alice", false), ("al ice", false),
        ("alice!", false), ("é", false), ("a/b", false), ("a\u{0}", false), ("ａ", false),
    ])
    func userAndDeviceNames(_ name: String, _ valid: Bool) {
        #expect(Validation.isValidName(name) == valid, "\(name.debugDescription)")
    }

    @Test(arguments: [
        ("Room", true),
        (" a ", true),
        ("Ünïcödé ☃ 🐦", true),
        (String(repeating: "é", count: 64), true),                   // 64 code points, 128 bytes
        (String(repeating: "🐦", count: 64), true),                  // 64 code points, 256 bytes: 4 * max
        (String(repeating: "é", count: 65), false),
        ("e" + String(repeating: "\u{301}", count: 63), true),      // one grapheme, 64 code points
        ("e" + String(repeating: "\u{301}", count: 64), false),     // one grapheme, 65 code points
        ("", false),
        (" ", false),
        ("\u{200B}\u{200D}", false),     // zero-width space and joiner only
        ("\u{3164}", false),             // Hangul filler
        ("\u{FEFF}", false),             // BOM
        ("\u{2028}", false),             // line separator
        ("a\u{0}b", false),
        ("a\nb", false),
        ("a\u{7F}", false),              // DEL
        ("a\u{85}", false),              // C1 (NEL)
        ("abc\u{202E}txt.exe", false),   // right-to-left override
        ("a\u{2066}b", false),           // left-to-right isolate
        ("a\u{200F}b", true),            // a bidi mark is not an embedding or override
    ])
    func displayNames(_ name: String, _ valid: Bool) {
        #expect(Validation.isValidDisplayName(name, max: 64) == valid, "\(name.debugDescription)")
    }

    @Test(arguments: [
        ("m-1", true), ("!", true), ("~", true), (String(repeating: "x", count: 64), true),
        ("", false), (String(repeating: "x", count: 65), false), ("a b", false), ("a\u{7F}", false),
        ("é", false), ("a\tb", false),
    ])
    func clientMessageIDs(_ id: String, _ valid: Bool) {
        #expect(Validation.isValidClientMsgID(id) == valid, "\(id.debugDescription)")
    }

    /// Reaction keys: an emoji (its joiners and variation selectors included) or a short
    /// word; never only what a reader cannot see (a reaction nobody could tell apart).
    @Test(arguments: [
        ("👍", true), ("ok", true), ("❤\u{FE0F}", true), ("👩\u{200D}💻", true), ("+1", true),
        (String(repeating: "x", count: 64), true),
        ("", false), (String(repeating: "x", count: 65), false), ("two words", false), ("a\u{1F}", false),
        ("\u{200D}", false), ("\u{FE0F}", false), ("\u{200D}\u{FE0F}\u{200D}", false), ("\u{200B}", false),
        ("a\u{202E}", false), ("\u{3000}", false),
    ])
    func reactionKeys(_ key: String, _ valid: Bool) {
        #expect(Validation.isValidReactionKey(key) == valid, "\(key.debugDescription)")
    }
}
