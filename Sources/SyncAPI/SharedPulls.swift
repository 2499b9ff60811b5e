import HTTPServer
import Synchronization
import SyncEngine

/// Pulls that ask the same question share one read: the same user, cursor, limits (and
/// device, when the read also rechecks the token). One send that wakes 1,800 pulls
/// parked by one device costs one read and one encoding, not 1,800 of each; every
/// waiter gets the same page and the same bytes.
///
/// No waiter ever gets a read older than its wake-up: a waiter joins only a read that
/// has not begun its snapshot. The read's first act, inside the snapshot and before
/// its first query, is to take the waiters it answers; a pull that asks after that
/// starts a read of its own.
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

    private struct State {
        var pending: [Key: (id: UInt64, waiters: [Waiter])] = [:]
        var nextID: UInt64 = 1
    }

    private let state = Mutex(State())
    private let engine: SyncEngine
    /// Reads started and waiters that joined one already queued (for tests and /metrics).
    let reads = Counter()
    let joined = Counter()

    init(engine: SyncEngine) { self.engine = engine }

    /// Answers `waiter` with one page from `start.from` (see `SyncEngine.pull`).
    func pull(_ start: PullStart, limit: Int, perRoomLimit: Int?, checkDevice: Bool, _ waiter: @escaping Waiter) {
        let key = Key(user: start.me.user, cursor: start.from.encoded, limit: limit, perRoomLimit: perRoomLimit,
                      checkDevice: checkDevice ? start.me.device : nil)
        let id = state.withLock { s -> UInt64? in
            if s.pending[key] != nil {
                s.pending[key]!.waiters.append(waiter)
                return nil
            }
            let id = s.nextID
            s.nextID += 1
            s.pending[key] = (id, [waiter])
            return id
        }
        guard let id else { return joined.add(1) }
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
        }
    }

    /// Takes the waiters of read `id` of `key`, closing it to new ones.
    private func claim(_ key: Key, _ id: UInt64) -> [Waiter] {
        state.withLock { s in
            guard let p = s.pending[key], p.id == id else { return [] }
            s.pending[key] = nil
            return p.waiters
        }
    }

    /// The waiters a read's body took, handed to its completion.
    private final class Taken: Sendable {
        private let value = Mutex<[Waiter]?>(nil)
        func set(_ w: [Waiter]) { value.withLock { $0 = w } }
        func take() -> [Waiter]? { value.withLock { v in defer { v = nil }; return v } }
    }
}
