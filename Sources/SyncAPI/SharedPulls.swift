import HTTPServer
import JSON
import Synchronization
import SyncEngine

/// Pulls that ask the same question share one read: the same user, cursor, limits (and
/// device, when the read also rechecks the token). One send that wakes 1,800 pulls
/// parked by one device costs one read and one encoding, not 1,800 of each; every
/// waiter gets the same page and the same bytes.
///
/// No waiter ever gets a read older than its wake-up: a waiter joins only a read that
/// has not begun its snapshot. The read's first act, inside the snapshot and before
/// its first query, is to take the waiters it answers; those who ask after that wait
/// for it to finish and then share one follow-up read. So one question is read at most
/// twice at a time (one running, one gathering), however many ask it.
final class SharedPulls: Sendable {
    struct Key: Hashable, Sendable {
        let user: UserID
        let cursor: String
        let limit: Int
        let perRoomLimit: Int?
        /// Set when the read first checks that this device is still active.
        let checkDevice: DeviceID?
    }

    /// What every waiter of one read is told (on the read thread: hop to your loop).
    enum Outcome: Sendable {
        case page(PullResult, HTTPResponse)
        /// `checkDevice` found the device revoked.
        case revoked
        case failed(SyncError)
    }

    typealias Waiter = @Sendable (Outcome) -> Void

    /// Per question: the waiters of a read not begun yet (they join it), and those that
    /// came after it began (`next`: one follow-up read for all of them once it is done).
    private struct Entry {
        var id: UInt64
        var waiters: [Waiter]
        var begun = false
        var next: [Waiter] = []
    }

    private struct State {
        var pending: [Key: Entry] = [:]
        var nextID: UInt64 = 1
    }

    private let state = Mutex(State())
    private let engine: SyncEngine
    /// Reads started (tests count them).
    let reads = Counter()
    /// Parked pulls answered from their news alone, without a read (`LongPoll.answer`).
    let answeredAtOnce = Counter()

    /// A message's event as JSON, for pages answered from news (`LongPoll.answer`,
    /// `PullOffers`): the thousand members of a room woken by one message each get a page
    /// of their own (their cursors differ), all around one encoding of the event. A few
    /// recent messages are kept.
    private let events = Mutex<(recent: [EncodedKey: [UInt8]], order: [EncodedKey])>(([:], []))
    /// A message's encoding is of one version of it (another node's news reads the
    /// message as it is then: an edit or a recall between two reads is another version).
    private struct EncodedKey: Hashable {
        let id: MessageID
        let version: Int
    }

    /// The page a read from one row before `cursor` gives when that row is `message`:
    /// exactly what `Encode.pull` writes for it.
    func page(_ message: Message, _ cursor: Cursor) -> HTTPResponse {
        let event = encodedEvent(message)
        var w = JSONWriter(capacity: event.count + 160)
        w.object { w in
            w.key("events")
            w.array { w in w.raw(event) }
            w.field("cursor", cursor.encoded)
            w.field("has_more", false)
        }
        return .json(.ok, w.bytes)
    }

    /// A page of one event that is not a message (not kept: each is one user's).
    func page(_ event: Event, _ cursor: Cursor) -> HTTPResponse {
        json(.ok) { Encode.pull(PullResult(events: [event], cursor: cursor, hasMore: false, gaps: []), &$0) }
    }

    private func encodedEvent(_ message: Message) -> [UInt8] {
        let key = EncodedKey(id: message.id, version: message.version)
        if let hit = events.withLock({ $0.recent[key] }) { return hit }
        var w = JSONWriter()
        Encode.event(Event(kind: .message, room: message.room, message: message, payload: nil), &w)
        let bytes = w.bytes
        events.withLock { e in
            if e.recent.updateValue(bytes, forKey: key) == nil { e.order.append(key) }
            if e.order.count > 64 { e.recent[e.order.removeFirst()] = nil }
        }
        return bytes
    }

    /// Waiters for a read, begun or not (tests wait for them).
    var waiting: Int { state.withLock { $0.pending.values.reduce(0) { $0 + $1.waiters.count + $1.next.count } } }

    init(engine: SyncEngine) { self.engine = engine }

    /// Answers `waiter` with one page from `start.from` (see `SyncEngine.pull`).
    func pull(_ start: PullStart, limit: Int, perRoomLimit: Int?, checkDevice: Bool, _ waiter: @escaping Waiter) {
        let key = Key(user: start.me.user, cursor: start.from.encoded, limit: limit, perRoomLimit: perRoomLimit,
                      checkDevice: checkDevice ? start.me.device : nil)
        let id = state.withLock { s -> UInt64? in
            if s.pending[key] != nil {
                // Not begun: join it. Begun: its snapshot may predate this waiter's news,
                // so wait for the follow-up read that starts when it is done.
                if s.pending[key]!.begun { s.pending[key]!.next.append(waiter) } else { s.pending[key]!.waiters.append(waiter) }
                return nil
            }
            let id = s.nextID
            s.nextID += 1
            s.pending[key] = Entry(id: id, waiters: [waiter])
            return id
        }
        guard let id else { return }
        read(key, id, start, limit: limit, perRoomLimit: perRoomLimit, checkDevice: checkDevice)
    }

    private func read(_ key: Key, _ id: UInt64, _ start: PullStart, limit: Int, perRoomLimit: Int?, checkDevice: Bool) {
        reads.add(1)
        let taken = Taken()
        engine.read({ [self] ctx in
            taken.set(claim(key, id))
            return try SyncEngine.pull(ctx, start, limit: limit, perRoomLimit: perRoomLimit, checkDevice: checkDevice)
        }) { [self] result in
            // A read that failed before its body ran still holds its waiters in `pending`.
            let waiters = taken.take() ?? claim(key, id)
            let outcome: Outcome
            switch result {
            case .success(let page?): outcome = .page(page, json(.ok) { Encode.pull(page, &$0) })
            case .success(nil): outcome = .revoked
            case .failure(let error): outcome = .failed(error)
            }
            for w in waiters { w(outcome) }
            // Those who came while it ran get one read of their own, begun only now.
            let followUp = state.withLock { s -> UInt64? in
                guard var e = s.pending[key], e.id == id else { return nil }
                guard !e.next.isEmpty else {
                    s.pending[key] = nil
                    return nil
                }
                let next = s.nextID
                s.nextID += 1
                e = Entry(id: next, waiters: e.next)
                s.pending[key] = e
                return next
            }
            if let followUp { read(key, followUp, start, limit: limit, perRoomLimit: perRoomLimit, checkDevice: checkDevice) }
        }
    }

    /// Marks read `id` of `key` begun and takes its waiters (later ones go to `next`).
    private func claim(_ key: Key, _ id: UInt64) -> [Waiter] {
        state.withLock { s in
            guard var e = s.pending[key], e.id == id, !e.begun else { return [] }
            let waiters = e.waiters
            e.waiters = []
            e.begun = true
            s.pending[key] = e
            return waiters
        }
    }

    /// The waiters a read's body took, handed to its completion.
    private final class Taken: Sendable {
        private let value = Mutex<[Waiter]?>(nil)
        func set(_ w: [Waiter]) { value.withLock { $0 = w } }
        func take() -> [Waiter]? { value.withLock { v in defer { v = nil }; return v } }
    }
}
