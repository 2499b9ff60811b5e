import Sockets
import SyncEngine

/// A hot room's message on a store shared by several nodes wakes its members' parked
/// pulls. The message alone is such a pull's page only if nothing else reached the user
/// first, and news from other nodes may still be on its way (a leave there before this
/// send here would come after it). What settles it is in the database: still a member,
/// and the inbox head still at the pull's cursor (a leave, a join or any other row in
/// the inbox moves it). That is one read for all the pulls this loop woke for the
/// message (`StreamReads.membersAtInboxHead`), not a query for each: a 1,000-member room
/// costs each node one read per message instead of a thousand.
///
/// Confinement: one per event loop, touched only on it (`PigeonholeAPI.hotWakes(on:)`).
final class HotWakeChecks: @unchecked Sendable {
    private struct Key: Hashable {
        let room: RoomID
        let seq: Int64
    }

    private struct Waiter {
        let user: UserID
        let inboxSeq: Int64
        let done: (Bool) -> Void
    }

    private let loop: EventLoop
    private let engine: SyncEngine
    private var pending: [Key: [Waiter]] = [:]
    /// The waiters of reads under way, by read.
    private var reading: [UInt64: [Waiter]] = [:]
    private var nextRead: UInt64 = 0
    /// Checks read (every loop's count into one; tests read it).
    private let reads: Counter

    init(loop: EventLoop, engine: SyncEngine, reads: Counter) {
        self.loop = loop
        self.engine = engine
        self.reads = reads
    }

    /// `done(true)` when `user` is a member of `room` and their inbox head is `inboxSeq`
    /// as of a read begun after this call; false otherwise or if the read failed. Every
    /// pull woken for the same message in the same task of this loop shares the read,
    /// which starts once that task is over.
    func check(room: RoomID, seq: Int64, user: UserID, inboxSeq: Int64, _ done: @escaping (Bool) -> Void) {
        let key = Key(room: room, seq: seq)
        if pending[key] == nil {
            pending[key] = []
            loop.execute { [self] in run(key) }
        }
        pending[key]!.append(Waiter(user: user, inboxSeq: inboxSeq, done: done))
    }

    private func run(_ key: Key) {
        guard let waiters = pending.removeValue(forKey: key) else { return }
        // One seq per user: a device behind another's cursor has something in its inbox
        // after its cursor, so it reads anyway.
        var users: [UserID: Int64] = [:]
        for w in waiters { users[w.user] = max(users[w.user] ?? w.inboxSeq, w.inboxSeq) }
        reads.add(1)
        let id = nextRead
        nextRead += 1
        reading[id] = waiters
        let asked = users
        engine.read({ try $0.store.membersAtInboxHead(room: key.room, users: asked) }) { [self] result in
            let atHead = (try? result.get()) ?? []
            loop.execute { [self] in
                for w in reading.removeValue(forKey: id) ?? [] {
                    w.done(atHead.contains(w.user) && asked[w.user] == w.inboxSeq)
                }
            }
        }
    }
}
