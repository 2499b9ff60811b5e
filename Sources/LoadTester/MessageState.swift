import JSON

/// One copy of a message as a client sees it once messages can change
/// (docs/message-changes.md): edited, recalled (a tombstone), reacted to. A device keeps,
/// per message, the merge of every copy it received; at the end every device's copy and
/// the server's current one must agree.
struct MessageState: Equatable, Sendable {
    struct Reaction: Equatable, Sendable {
        let key: String
        let count: Int64
        /// Whether the viewer reacted with this key (differs between viewers).
        let me: Bool
    }

    /// How many times the message changed; absent on the wire means 0.
    var version: Int64 = 0
    var deleted = false
    /// The body's JSON text as the server wrote it (nil when absent: a tombstone).
    var body: [UInt8]? = nil
    var editCount: Int64 = 0
    var edited = false   // `edited_at` present
    var reactions: [Reaction] = []
    /// What a tombstone must not carry and this copy did (`body`, `edited_at`, ...): the
    /// contract erases the text, so any of them is a violation wherever it shows.
    var tombstoneExtras: [String] = []

    /// The contract's rule for two copies of one message: a tombstone is final; else the
    /// higher `version` wins; of equal versions the incoming one is kept. So replays and
    /// pages that arrive out of order converge on the newest state.
    static func merge(held: MessageState?, incoming: MessageState) -> MessageState {
        guard let held else { return incoming }
        if held.deleted { return held }
        if incoming.deleted { return incoming }
        return incoming.version >= held.version ? incoming : held
    }

    /// Reaction counts by key (`me` left out: it depends on who looks).
    var counts: [String: Int64] {
        var out: [String: Int64] = [:]
        for r in reactions { out[r.key, default: 0] += r.count }
        return out
    }

    /// How `self` differs from `other` in what every viewer must see alike: tombstone or
    /// body, edit count, reaction counts per key. nil when they agree.
    func difference(from other: MessageState) -> String? {
        if deleted != other.deleted { return deleted ? "a tombstone, not recalled there" : "not recalled, a tombstone there" }
        if deleted { return nil }
        if !Self.sameBody(body, other.body) {
            return "body \(Self.text(body)) vs \(Self.text(other.body))"
        }
        if editCount != other.editCount { return "edit_count \(editCount) vs \(other.editCount)" }
        let (mine, theirs) = (counts, other.counts)
        if mine != theirs { return "reactions \(Self.text(mine)) vs \(Self.text(theirs))" }
        return nil
    }

    /// Bodies agree when their bytes do, or failing that their parsed values (a history
    /// page and a sync page may space the same value differently).
    static func sameBody(_ a: [UInt8]?, _ b: [UInt8]?) -> Bool {
        if a == b { return true }
        guard let a, let b, let x = try? JSONParser.parse(a), let y = try? JSONParser.parse(b) else { return false }
        return x == y
    }

    static func text(_ body: [UInt8]?) -> String {
        guard let body else { return "absent" }
        let s = String(decoding: body.prefix(60), as: UTF8.self)
        return body.count > 60 ? s + "..." : s
    }

    static func text(_ counts: [String: Int64]) -> String {
        counts.isEmpty ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
    }
}
