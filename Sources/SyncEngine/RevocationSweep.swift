import Synchronization

/// Devices another process revoked, for a server that is the only process serving its
/// store (SQLite). `pigeonhole device revoke` writes to the database while the server
/// runs; the server hears of revocations only from its own writer (several nodes hear of
/// each other's through the cluster's notifications), so the device's open socket and
/// parked pulls went on, and its token stayed in the principal cache. Every
/// `revocationSweepInterval` the engine reads the devices revoked since the newest it
/// knows of (`AccountsReads.revokedDevices`) and ends them as its own revocations end
/// them: the cache forgets them, the Notifier tells their sockets (closed with 1008) and
/// parked pulls (401). A revocation this process made comes round once more; telling it
/// again changes nothing.
final class RevocationSweep: Sendable {
    private struct State {
        var since: Int64
        /// Devices already told that were revoked at exactly `since` (the read is `>=`).
        var told: Set<DeviceID> = []
        var reading = false
    }

    private let state: Mutex<State>

    init(since: Int64) {
        state = Mutex(State(since: since))
    }

    /// Where the next read starts, or nil while one is under way.
    func begin() -> Int64? {
        state.withLock { s in
            guard !s.reading else { return nil }
            s.reading = true
            return s.since
        }
    }

    /// The devices of `rows` (revoked at or after `begin`'s answer) not told yet, by
    /// user; ends the read.
    func end(_ rows: [(device: DeviceID, user: UserID, at: Int64)]) -> [UserID: [DeviceID]] {
        state.withLock { s in
            s.reading = false
            var fresh: [UserID: [DeviceID]] = [:]
            for r in rows where r.at > s.since || !s.told.contains(r.device) {
                fresh[r.user, default: []].append(r.device)
            }
            if let newest = rows.map(\.at).max(), newest > s.since {
                s.since = newest
                s.told = []
            }
            for r in rows where r.at == s.since { s.told.insert(r.device) }
            return fresh
        }
    }
}

extension SyncEngine {
    /// One round of the revocation sweep (`RevocationSweep`); a round still reading
    /// makes this one a no-op.
    public func sweepRevocations(_ done: @escaping @Sendable () -> Void = {}) {
        guard let since = revocations.begin() else { return done() }
        store.read({ try $0.revokedDevices(since: since) }) { [self] result in
            let fresh = revocations.end((try? result.get()) ?? [])
            if !fresh.isEmpty {
                principals.revoke(fresh.values.joined())
                notifier.publish(StoreNews(revoked: fresh))
            }
            done()
        }
    }
}
