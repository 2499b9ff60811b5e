/// The verdict of the `--changes` mode: once messages are edited, recalled and reacted
/// to, every device must end with the same state of every message it received, the
/// server's current one (docs/message-changes.md). Kept free of I/O so it can be
/// tested on hand-made states, like `Delivery`.
enum Convergence {
    /// A message: its room and its seq there.
    struct Key: Hashable, Comparable, Sendable {
        let room: Int64
        let seq: Int64

        static func < (a: Key, b: Key) -> Bool { (a.room, a.seq) < (b.room, b.seq) }
    }

    /// What one device ended with: per message, the merge of every copy it received.
    struct DeviceStates: Sendable {
        let name: String
        /// The device's user (index), whose own reactions its `me` flags must show.
        let user: Int
        var states: [Key: MessageState] = [:]
        /// Tombstones that carried what a tombstone must not (the fields, first copy seen).
        var badTombstones: [Key: [String]] = [:]
        /// room -> seqs of change events from a room the device is not in.
        var foreignChanges: [Int64: [Int64]] = [:]
        /// room -> the newest seq of any event received there (message or change).
        var newestSeq: [Int64: Int64] = [:]

        init(name: String, user: Int) {
            self.name = name
            self.user = user
        }

        /// Takes one copy from an event, by the contract's merge rule.
        mutating func apply(_ c: SyncPageScanner.Copy, rooms: Set<Int64>) {
            guard rooms.contains(c.room) else {
                if c.kind != .message { foreignChanges[c.room, default: []].append(c.seq) }
                return   // a foreign message event is `Delivery.verify`'s to report
            }
            let key = Key(room: c.room, seq: c.messageSeq)
            if !c.state.tombstoneExtras.isEmpty && badTombstones[key] == nil { badTombstones[key] = c.state.tombstoneExtras }
            states[key] = MessageState.merge(held: states[key], incoming: c.state)
            newestSeq[c.room] = max(newestSeq[c.room] ?? 0, c.seq)
        }
    }

    /// Each user's own reactions at the end, as the answers to their requests say.
    struct OwnReactions: Sendable {
        /// user -> message -> the keys they reacted with.
        var made: [Int: [Key: Set<String>]] = [:]
        /// user -> messages where one of their reaction requests had an unknown outcome.
        var uncertain: [Int: Set<Key>] = [:]
    }

    struct Result {
        var violations: [String] = []
        /// (device, message) pairs compared.
        var compared = 0
    }

    /// Every device's state of every message it holds must equal the server's (`server`,
    /// read from the history of `serverRooms`), or where the server's was not read,
    /// the first device's that holds it; tombstones must carry no body anywhere; and with
    /// `own`, a device's `me` flags must be its user's own reactions. One line per
    /// device, room and kind of violation.
    static func verify(devices: [DeviceStates], server: [Key: MessageState], serverRooms: Set<Int64>,
                       own: OwnReactions?) -> Result {
        var result = Result()
        var out: [String] = []
        var firstHeld: [Key: (device: String, state: MessageState)] = [:]
        for d in devices { for (k, s) in d.states where firstHeld[k] == nil { firstHeld[k] = (d.name, s) } }

        var serverBad: [Int64: [Int64]] = [:]
        for (k, s) in server where !s.tombstoneExtras.isEmpty { serverBad[k.room, default: []].append(k.seq) }
        for room in serverBad.keys.sorted() {
            out.append("server history room \(room): tombstones that carry a body or edit fields: seqs \(Delivery.ranges(serverBad[room]!))")
        }

        for d in devices {
            for room in d.foreignChanges.keys.sorted() {
                out.append("device \(d.name) room \(room): changes from a room it is not in: seqs \(Delivery.ranges(d.foreignChanges[room]!))")
            }
            var bad: [Int64: [Int64]] = [:], badWhat: [Int64: String] = [:]
            for k in d.badTombstones.keys.sorted() {
                bad[k.room, default: []].append(k.seq)
                if badWhat[k.room] == nil { badWhat[k.room] = "seq \(k.seq): " + d.badTombstones[k]!.joined(separator: ", ") }
            }
            var differ: [Int64: [Int64]] = [:], differWhat: [Int64: String] = [:]
            var absent: [Int64: [Int64]] = [:]
            var meWrong: [Int64: [Int64]] = [:], meWhat: [Int64: String] = [:]
            for k in d.states.keys.sorted() {
                let mine = d.states[k]!
                let reference: (name: String, state: MessageState)
                if let s = server[k] {
                    reference = ("the server's", s)
                } else if serverRooms.contains(k.room) {
                    absent[k.room, default: []].append(k.seq)
                    continue
                } else {
                    let first = firstHeld[k]!
                    reference = ("device \(first.device)'s", first.state)
                }
                result.compared += 1
                if let diff = mine.difference(from: reference.state) {
                    differ[k.room, default: []].append(k.seq)
                    if differWhat[k.room] == nil { differWhat[k.room] = "from \(reference.name) (seq \(k.seq): \(diff))" }
                    continue
                }
                guard let own, !mine.deleted, own.uncertain[d.user]?.contains(k) != true else { continue }
                let want = own.made[d.user]?[k] ?? []
                let shown = Set(mine.reactions.filter(\.me).map(\.key))
                if shown != want {
                    meWrong[k.room, default: []].append(k.seq)
                    if meWhat[k.room] == nil {
                        meWhat[k.room] = "seq \(k.seq): me on \(shown.sorted()), the user's reactions \(want.sorted())"
                    }
                }
            }
            for room in Set(bad.keys).union(differ.keys).union(absent.keys).union(meWrong.keys).sorted() {
                let at = "device \(d.name) room \(room)"
                if let s = bad[room] { out.append("\(at): tombstones that carry a body or edit fields: seqs \(Delivery.ranges(s)) (\(badWhat[room]!))") }
                if let s = differ[room] { out.append("\(at): message state differs at seqs \(Delivery.ranges(s)) \(differWhat[room]!)") }
                if let s = absent[room] { out.append("\(at): messages the server's history does not have: seqs \(Delivery.ranges(s))") }
                if let s = meWrong[room] { out.append("\(at): reactions' me wrong at seqs \(Delivery.ranges(s)) (\(meWhat[room]!))") }
            }
        }
        result.violations = out
        return result
    }
}
