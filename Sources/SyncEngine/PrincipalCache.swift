import Glibc
import Synchronization

/// Device tokens resolved recently, so a write does not pay a database read (a thread
/// hop on SQLite, a round trip on PostgreSQL) just to learn who is sending.
///
/// Never stale past a revocation this node heard of: a revocation's commit removes the
/// device's entries before its answer goes out (`SyncEngine.write`), another node's
/// arrives with its news (`RemoteNews`), and news that may have been missed (the
/// cluster listener reconnected, a commit's outcome unknown) empties the cache. A read
/// that began before a revocation cannot put its answer back afterwards: it stores only
/// if no revocation happened since it began (`generation`). Entries also expire after
/// `ttlNanos`, which bounds what a node whose news stopped without its noticing could
/// serve. Unknown tokens are never cached (failed lookups are rate-limited per address).
public final class PrincipalCache: Sendable {
    private struct State {
        var entries: [[UInt8]: (principal: Principal, expires: UInt64)] = [:]
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    let ttlNanos: UInt64
    let capacity: Int

    public init(ttl: Duration = .seconds(10), capacity: Int = 100_000) {
        let (s, atto) = ttl.components
        ttlNanos = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
        self.capacity = capacity
    }

    /// The generation to hand back to `store` after a lookup.
    public var generation: UInt64 { state.withLock { $0.generation } }

    public func principal(tokenHash: [UInt8]) -> Principal? {
        let now = Self.now()
        return state.withLock { s in
            guard let e = s.entries[tokenHash] else { return nil }
            if e.expires <= now {
                s.entries[tokenHash] = nil
                return nil
            }
            return e.principal
        }
    }

    /// Remembers a lookup that began at `generation`, unless a revocation came since.
    public func store(tokenHash: [UInt8], _ principal: Principal, generation: UInt64) {
        let expires = Self.now() &+ ttlNanos
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.entries.count >= capacity { s.entries.removeAll(keepingCapacity: true) }
            s.entries[tokenHash] = (principal, expires)
        }
    }

    public func revoke(_ devices: some Sequence<DeviceID>) {
        let gone = Set(devices)
        guard !gone.isEmpty else { return }
        state.withLock { s in
            s.generation &+= 1
            s.entries = s.entries.filter { !gone.contains($0.value.principal.device) }
        }
    }

    public func clear() {
        state.withLock { s in
            s.generation &+= 1
            s.entries.removeAll()
        }
    }

    public var count: Int { state.withLock { $0.entries.count } }

    private static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

extension SyncEngine {
    /// The principal of `token` if it was resolved recently and not revoked since: no
    /// database read (see `PrincipalCache`).
    public func cachedPrincipal(token: String) -> Principal? {
        guard token.utf8.count <= 256 else { return nil }
        return principals.principal(tokenHash: Tokens.hash(token))
    }

    /// Resolves `token` with a read off the caller's thread (nil: unknown or revoked),
    /// remembering a principal found.
    public func authenticate(token: String, completion: @escaping @Sendable (Result<Principal?, SyncError>) -> Void) {
        let generation = principals.generation
        let principals = self.principals
        read({ try Accounts.authenticate($0.store, token: token) }) { result in
            if case .success(let p?) = result { principals.store(tokenHash: Tokens.hash(token), p, generation: generation) }
            completion(result)
        }
    }
}
