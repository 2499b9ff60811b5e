import HTTPServer
import Sockets
import SyncEngine

/// Where a parked pull's news goes: to the pull, or, for a moment after it was answered,
/// to its continuation (`PullContinuations`), then to the re-poll that adopts it. One
/// subscription thus covers the answer, the gap and the next wait, with no moment in
/// which news for the device reaches nobody.
///
/// Confinement: its loop only (the subscription's lane is that loop).
final class NewsRelay: @unchecked Sendable {
    var target: ((Notifier.News) -> Void)?
    func deliver(_ news: Notifier.News) { target?(news) }
}

/// A long-poll client pulls again at once with the cursor it was just given. When the
/// answer left the pull at the head of every stream it listens to (answered from its
/// news, or a read with nothing more and no news meanwhile), its subscription stays open
/// here for a few seconds, keyed by the device and that cursor's text. The re-poll of
/// the same device (its token resolved from `PrincipalCache`, so never past a
/// revocation) with exactly that cursor adopts the subscription and parks at once: no
/// read, as if the pull had never stopped waiting. Any news for the subscription before
/// that (a message, a membership change, a recheck, a revocation) drops the entry, and
/// the re-poll reads as usual.
///
/// Only cursors this node handed out are trusted here, with the hot rooms the answered
/// pull was subscribed to: a cursor a client made up never skips the start's read (its
/// validation, its membership checks).
///
/// Confinement: one table per event loop, touched only on that loop (`PigeonholeAPI
/// .continuations(on:)`); a re-poll on another connection's loop reads as usual.
final class PullContinuations: @unchecked Sendable {
    struct Key: Hashable {
        let device: DeviceID
        let cursor: String
    }

    /// What a re-poll adopts: where it starts (the answered cursor, the same hot rooms),
    /// and the subscription with its relay.
    struct Taken {
        let start: PullStart
        let subscription: Notifier.Subscription
        let relay: NewsRelay
    }

    private final class Entry {
        let taken: Taken
        var timer: TimerToken?
        init(_ taken: Taken) { self.taken = taken }
    }

    let loop: EventLoop
    private let notifier: Notifier
    private let lifetime: Duration
    private let capacity: Int
    private var entries: [Key: Entry] = [:]
    /// Re-polls that parked from a continuation (every loop's table counts into one).
    let adopted: Counter

    init(loop: EventLoop, notifier: Notifier, adopted: Counter, lifetime: Duration = .seconds(2), capacity: Int = 20_000) {
        self.loop = loop
        self.adopted = adopted
        self.notifier = notifier
        self.lifetime = lifetime
        self.capacity = capacity
    }

    var count: Int { entries.count }

    /// Keeps `subscription` (its relay now pointing here) for the re-poll from `start.from`.
    /// Over capacity, or with an entry already there for the key, it is simply let go.
    func keep(_ start: PullStart, _ subscription: Notifier.Subscription, _ relay: NewsRelay) {
        let key = Key(device: start.me.device, cursor: start.from.encoded)
        guard entries.count < capacity, entries[key] == nil else {
            relay.target = nil
            return notifier.unsubscribe(subscription)
        }
        let entry = Entry(Taken(start: start, subscription: subscription, relay: relay))
        entries[key] = entry
        // Waiting for a re-poll is not a live connection: a message meanwhile still makes
        // an offline push, as it did before the subscription outlived its pull.
        notifier.setPresent(subscription, false)
        // Any news means the head moved (or may have): the re-poll must read.
        relay.target = { [weak self] _ in self?.drop(key) }
        entry.timer = loop.schedule(after: lifetime) { [weak self] in self?.drop(key) }
    }

    /// The continuation of `device` at exactly `cursor`, taken out of the table (its
    /// relay's target is the caller's to set at once).
    func take(device: DeviceID, cursor: String) -> Taken? {
        guard let entry = entries.removeValue(forKey: Key(device: device, cursor: cursor)) else { return nil }
        if let timer = entry.timer { loop.cancel(timer) }
        entry.taken.relay.target = nil
        notifier.setPresent(entry.taken.subscription, true)
        adopted.add(1)
        return entry.taken
    }

    private func drop(_ key: Key) {
        guard let entry = entries.removeValue(forKey: key) else { return }
        if let timer = entry.timer { loop.cancel(timer) }
        entry.taken.relay.target = nil
        notifier.unsubscribe(entry.taken.subscription)
    }

    /// Shutdown: every kept subscription goes.
    func dropAll() {
        for key in Array(entries.keys) { drop(key) }
    }
}
