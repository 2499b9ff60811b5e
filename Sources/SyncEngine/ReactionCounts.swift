/// A message's reaction counts as the store keeps them on the message's row
/// (`messages.reactions`): "key US count" joined by RS, ordered by key's bytes, NULL when
/// there are none. A key cannot hold US (0x1F) or RS (0x1E): `Validation.isValidReactionKey`
/// refuses control characters. The reader's own keys come from the `reactions` table the
/// same way (keys joined by RS).
public enum ReactionCounts {
    public static let maxKeys = 20

    /// The counts of a stored value, `me` set for the keys in `mine` (the reader's keys as
    /// the store reads them: joined by RS).
    public static func decode(_ stored: String?, mine: String?) -> [ReactionCount] {
        // Most messages have no reactions: no set to build (every message row of a page
        // comes through here).
        guard let stored, !stored.isEmpty else { return [] }
        return decode(stored, mine: Set((mine ?? "").split(separator: "\u{1E}", omittingEmptySubsequences: true).map(String.init)))
    }

    /// The counts of a stored value, `me` set for the keys in `own`.
    public static func decode(_ stored: String?, mine own: Set<String>) -> [ReactionCount] {
        guard let stored, !stored.isEmpty else { return [] }
        return stored.split(separator: "\u{1E}").compactMap { part in
            guard let us = part.lastIndex(of: "\u{1F}"), let n = Int(part[part.index(after: us)...]), n > 0 else { return nil }
            let key = String(part[..<us])
            return ReactionCount(key: key, count: n, me: own.contains(key))
        }
    }

    /// Counts as stored (nil: none), ordered by key's UTF-8 bytes.
    public static func encode(_ counts: [String: Int]) -> String? {
        let kept = counts.filter { $0.value > 0 }.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        guard !kept.isEmpty else { return nil }
        return kept.map { "\($0.key)\u{1F}\($0.value)" }.joined(separator: "\u{1E}")
    }

    /// The stored counts as a dictionary.
    public static func counts(_ stored: String?) -> [String: Int] {
        Dictionary(decode(stored, mine: []).map { ($0.key, $0.count) }, uniquingKeysWith: +)
    }
}
