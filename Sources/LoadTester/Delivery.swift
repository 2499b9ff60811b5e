/// What the load test records and how it checks delivery (kept free of I/O so it can
/// be tested on hand-made logs).
enum Delivery {
    /// One acknowledged send (a 201) or one received message event.
    struct Record: Sendable {
        let room: Int64
        let seq: Int64
        let id: Int64
        let at: Double   // MonoTime seconds: when the 201 arrived / when the sync response was read
    }

    /// Everything one syncing device received, in the order it received it.
    struct DeviceLog: Sendable {
        let name: String
        let rooms: Set<Int64>
        var received: [Record]
        var complete: Bool
        var note: String?
        /// In the `--changes` mode: the state of every message it received.
        var states: Convergence.DeviceStates? = nil
    }

    /// Every device must hold every acknowledged message of its rooms exactly once, in
    /// per-room seq order, and nothing from other rooms. Seqs that were sent but never
    /// acknowledged (a failed send may still have committed) are neither required nor
    /// rejected. Returns one line per violation.
    static func verify(sent: [Record], devices: [DeviceLog]) -> [String] {
        var acked: [Int64: [Int64: Int64]] = [:]   // room -> seq -> message id
        for s in sent { acked[s.room, default: [:]][s.seq] = s.id }
        var out: [String] = []
        for d in devices {
            if !d.complete { out.append("device \(d.name): incomplete (\(d.note ?? "sync did not finish"))") }
            var last: [Int64: Int64] = [:]
            var seen: [Int64: Set<Int64>] = [:]
            var foreign: [Int64: [Int64]] = [:]
            var dup: [Int64: [Int64]] = [:]
            var disorder: [Int64: [String]] = [:]
            var wrongID: [Int64: [Int64]] = [:]
            for r in d.received {
                guard d.rooms.contains(r.room) else { foreign[r.room, default: []].append(r.seq); continue }
                if let id = acked[r.room]?[r.seq], id != r.id { wrongID[r.room, default: []].append(r.seq) }
                if !seen[r.room, default: []].insert(r.seq).inserted { dup[r.room, default: []].append(r.seq); continue }
                if let l = last[r.room], r.seq < l { disorder[r.room, default: []].append("\(r.seq) after \(l)") }
                last[r.room] = max(last[r.room] ?? r.seq, r.seq)
            }
            for room in foreign.keys.sorted() {
                out.append("device \(d.name) room \(room): messages from a room it is not in: seqs \(ranges(foreign[room]!))")
            }
            for room in d.rooms.sorted() {
                if let s = dup[room] { out.append("device \(d.name) room \(room): duplicates: seqs \(ranges(s))") }
                if let s = disorder[room] {
                    out.append("device \(d.name) room \(room): out of order: \(s.prefix(5).joined(separator: ", "))"
                        + (s.count > 5 ? " (+\(s.count - 5) more)" : ""))
                }
                if let s = wrongID[room] { out.append("device \(d.name) room \(room): wrong message id at seqs \(ranges(s))") }
                let got = seen[room] ?? []
                let missing = (acked[room] ?? [:]).keys.filter { !got.contains($0) }
                if !missing.isEmpty {
                    out.append("device \(d.name) room \(room): missing \(missing.count) acknowledged: seqs \(ranges(missing))")
                }
            }
        }
        return out
    }

    /// One room of a user's first screen, as the server reported it.
    struct ConversationRow: Sendable {
        let room: Int64
        let unread: Int64
        let readSeq: Int64
        let lastSeq: Int64
    }

    /// What the user's devices received in the `--changes` mode, where changes take room
    /// seqs too, so `unread` is no longer `last_seq - read_seq` (docs/message-changes.md).
    struct Received: Sendable {
        /// room -> the seqs of the message events received (changes excluded).
        var messages: [Int64: Set<Int64>] = [:]
        /// room -> the newest seq of any event received, message or change.
        var newest: [Int64: Int64] = [:]
    }

    /// The first screen must list each of the user's rooms once, with `unread =
    /// last_seq - read_seq`, `last_seq` the newest acknowledged seq and `read_seq` the
    /// furthest of the user's own sends and acknowledged read markers. With `exact` false
    /// (some sends or reads have an unknown outcome: they may have committed unseen) the
    /// server may be ahead of what was acknowledged, never behind. With `received` (the
    /// `--changes` mode) `unread` must be the number of messages the user's devices
    /// received above `read_seq`, and `last_seq` reaches the newest event they received.
    static func verifyUnread(user: String, rows: [ConversationRow], rooms: [Int64], acked: [Record],
                             ownSends: [Int64: Int64], readMarks: [Int64: Int64], exact: Bool,
                             received: Received? = nil) -> [String] {
        var out: [String] = []
        var lastAcked: [Int64: Int64] = [:]
        for s in acked { lastAcked[s.room] = max(lastAcked[s.room] ?? 0, s.seq) }
        var listed: [Int64: ConversationRow] = [:]
        for r in rows {
            if listed[r.room] != nil { out.append("user \(user) room \(r.room): listed twice on the first screen") }
            listed[r.room] = r
        }
        for room in rooms.sorted() {
            guard let r = listed[room] else {
                out.append("user \(user) room \(room): missing from the first screen")
                continue
            }
            let wantLast = max(lastAcked[room] ?? 0, received?.newest[room] ?? 0)
            let wantRead = max(ownSends[room] ?? 0, readMarks[room] ?? 0)
            if let received {
                let above = received.messages[room, default: []].filter { $0 > r.readSeq }.count
                if r.unread != Int64(above) {
                    out.append("user \(user) room \(room): unread \(r.unread) but its devices received \(above) messages above read_seq \(r.readSeq)")
                }
            } else if r.unread != r.lastSeq - r.readSeq {
                out.append("user \(user) room \(room): unread \(r.unread) but last_seq \(r.lastSeq) - read_seq \(r.readSeq) = \(r.lastSeq - r.readSeq)")
            }
            if exact ? r.lastSeq != wantLast : r.lastSeq < wantLast {
                out.append("user \(user) room \(room): last_seq \(r.lastSeq), but the newest acknowledged send"
                    + (received == nil ? "" : " or received event") + " is \(wantLast)")
            }
            if exact ? r.readSeq != wantRead : r.readSeq < wantRead {
                let expected = received.map { Int64($0.messages[room, default: []].filter { $0 > wantRead }.count) } ?? wantLast - wantRead
                out.append("user \(user) room \(room): read_seq \(r.readSeq), but own sends and read markers reached \(wantRead)"
                    + " (unread \(r.unread), expected \(expected))")
            }
        }
        for r in rows where !rooms.contains(r.room) {
            out.append("user \(user) room \(r.room): on the first screen but the user was never put in it")
        }
        return out
    }

    /// `3-7,9,12-13` (at most 8 runs, then `...`).
    static func ranges(_ seqs: [Int64]) -> String {
        let s = Array(Set(seqs)).sorted()
        var runs: [String] = []
        var i = 0
        while i < s.count {
            var j = i
            while j + 1 < s.count && s[j + 1] == s[j] + 1 { j += 1 }
            if runs.count == 8 { runs.append("..."); break }
            runs.append(i == j ? "\(s[i])" : "\(s[i])-\(s[j])")
            i = j + 1
        }
        return runs.joined(separator: ",")
    }

    /// The q-quantile of sorted values.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]
    }
}
