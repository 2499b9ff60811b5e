import Synchronization

/// What the senders share in the `--changes` mode: each room's recent messages (to edit,
/// recall or react to), every user's own reactions as the answers say, and the counts
/// for the report. All senders run on one loop, so the lock is never contended.
final class ChangeBoard: Sendable {
    /// The reaction keys the senders use: ASCII and multi-byte UTF-8 (percent-encoded in the path).
    static let keys = ["👍", "❤", "ok", "🎉"]
    /// How many of a room's newest messages are candidates.
    static let recentPerRoom = 32

    enum Operation: Equatable, Sendable {
        case edit(Convergence.Key, user: Int)
        case recall(Convergence.Key, user: Int)
        case react(Convergence.Key, user: Int, key: String, add: Bool)
    }

    /// What a change's answer says about whether it was made.
    enum Outcome: Sendable { case applied, refused, unknown }

    /// The changes made (answered 200) and refused or failed, for the report.
    struct Counts: Sendable {
        var edits = 0
        var recalls = 0
        var reactionsAdded = 0
        var reactionsRemoved = 0
        /// `edit 409 message_deleted`: the operation, then the status and the error code.
        var errors: [String: Int] = [:]
    }

    struct State: Sendable {
        /// room -> its newest acknowledged messages (oldest first) and who sent them.
        var recent: [Int64: [(seq: Int64, user: Int)]] = [:]
        var own = Convergence.OwnReactions()
        /// (user, message, reaction key) with a request in flight: not chosen again meanwhile,
        /// so each user's reactions are known in the order the server made them.
        var busy: Set<String> = []
        /// Messages recalled (answered 200): no reaction is taken back there.
        var recalled: Set<Convergence.Key> = []
        var counts = Counts()
    }

    let state = Mutex(State())

    /// An acknowledged send: a candidate for changes.
    func sent(room: Int64, seq: Int64, user: Int) {
        state.withLock { s in
            s.recent[room, default: []].append((seq, user))
            if s.recent[room]!.count > Self.recentPerRoom { s.recent[room]!.removeFirst() }
        }
    }

    /// The change `user` makes in `room` for the random `roll`, or nil (send instead)
    /// when nothing fits: 40% edits and 20% recalls of their own recent messages, 40%
    /// reactions to anyone's: a key added (or removed when they have it), or half the
    /// time one of their own reactions there taken back.
    func choose(room: Int64, user: Int, roll: UInt64) -> Operation? {
        state.withLock { s in
            let recent = s.recent[room] ?? []
            let kind = (roll & 0xFFFF) % 10   // the roll's bits: kind, candidate, reaction key
            let pick = Int((roll >> 16) & 0xFF_FFFF)
            if kind < 6 {
                let mine = recent.indices.filter { recent[$0].user == user }
                if !mine.isEmpty {
                    let index = mine[pick % mine.count]
                    let key = Convergence.Key(room: room, seq: recent[index].seq)
                    if kind < 4 { return .edit(key, user: user) }
                    s.recent[room]!.remove(at: index)   // recalled: no further changes chosen for it
                    return .recall(key, user: user)
                }
            }
            guard !recent.isEmpty else { return nil }
            var message = Convergence.Key(room: room, seq: recent[pick % recent.count].seq)
            var reaction = Self.keys[Int((roll >> 40) % UInt64(Self.keys.count))]
            // Half the time a user takes back one of their reactions in the room, on any
            // message not recalled (a recent message and key would rarely meet one).
            if roll >> 63 == 1 {
                let theirs = (s.own.made[user] ?? [:]).filter { $0.key.room == room && !s.recalled.contains($0.key) }
                    .sorted { $0.key < $1.key }.flatMap { m, keys in keys.sorted().map { (m, $0) } }
                if !theirs.isEmpty { (message, reaction) = theirs[pick % theirs.count] }
            }
            guard s.busy.insert("\(user) \(message.room) \(message.seq) \(reaction)").inserted else { return nil }
            let has = s.own.made[user]?[message]?.contains(reaction) ?? false
            return .react(message, user: user, key: reaction, add: !has)
        }
    }

    /// Records what a change's answer said (`error`: its key for the report, if it failed).
    func finished(_ op: Operation, _ outcome: Outcome, error: String?) {
        state.withLock { s in
            if let error { s.counts.errors[error, default: 0] += 1 }
            switch op {
            case .edit: if outcome == .applied { s.counts.edits += 1 }
            case .recall(let message, _):
                if outcome == .applied {
                    s.counts.recalls += 1
                    s.recalled.insert(message)
                }
            case .react(let message, let user, let key, let add):
                s.busy.remove("\(user) \(message.room) \(message.seq) \(key)")
                switch outcome {
                case .applied:
                    if add {
                        s.own.made[user, default: [:]][message, default: []].insert(key)
                        s.counts.reactionsAdded += 1
                    } else {
                        s.own.made[user]?[message]?.remove(key)
                        s.counts.reactionsRemoved += 1
                    }
                case .unknown: s.own.uncertain[user, default: []].insert(message)
                case .refused: break
                }
            }
        }
    }
}
