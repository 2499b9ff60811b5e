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
    /// How far back each read looks before the newest revocation seen: a revocation
    /// stamped earlier than one already seen (the wall clock stepped back between the two
    /// writes, or a unit replayed with its first run's time) is still found.
    static let marginMillis: Int64 = 60_000

    private struct State {
        /// The newest revocation time seen.
        var newest: Int64
        /// Devices told, with their revocation times, as far back as a read looks.
        var told: [DeviceID: Int64] = [:]
        var reading = false
    }

    private let state: Mutex<State>

    init(since: Int64) {
        state = Mutex(State(newest: since))
    }

    /// Where the next read starts, or nil while one is under way.
    func begin() -> Int64? {
        state.withLock { s in
            guard !s.reading else { return nil }
            s.reading = true
            return s.newest - Self.marginMillis
        }
    }

    /// The devices of `rows` (revoked at or after `begin`'s answer) not told yet, by
    /// user; ends the read.
    func end(_ rows: [(device: DeviceID, user: UserID, at: Int64)]) -> [UserID: [DeviceID]] {
        state.withLock { s in
            s.reading = false
            var fresh: [UserID: [DeviceID]] = [:]
            for r in rows where s.told[r.device] == nil {
                fresh[r.user, default: []].append(r.device)
                s.told[r.device] = r.at
            }
            s.newest = max(s.newest, rows.map(\.at).max() ?? s.newest)
            let oldest = s.newest - Self.marginMillis
            s.told = s.told.filter { $0.value >= oldest }
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
