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
    private let now: @Sendable () -> UInt64

    public init(ttl: Duration = .seconds(10), capacity: Int = 100_000,
                monotonicNanos: @escaping @Sendable () -> UInt64 = Clocks.system.monotonicNanos) {
        now = monotonicNanos
        let (s, atto) = ttl.components
        ttlNanos = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
        self.capacity = capacity
    }

    /// The generation to hand back to `store` after a lookup.
    public var generation: UInt64 { state.withLock { $0.generation } }

    public func principal(tokenHash: [UInt8]) -> Principal? {
        let now = self.now()
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
        let expires = now() &+ ttlNanos
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
}

extension SyncEngine {
    /// What a device token is looked up by (its SHA-256), computed once per request;
    /// nil for a token no device can have (over 256 bytes: not worth hashing).
    public static func tokenHash(_ token: String) -> [UInt8]? {
        token.utf8.count <= 256 ? Tokens.hash(token) : nil
    }

    /// The principal of a token resolved recently and not revoked since: no database
    /// read (see `PrincipalCache`).
    public func cachedPrincipal(tokenHash: [UInt8]) -> Principal? {
        principals.principal(tokenHash: tokenHash)
    }

    /// Resolves a token by its hash with a read off the caller's thread (nil: unknown or
    /// revoked), remembering a principal found.
    public func authenticate(tokenHash: [UInt8], completion: @escaping @Sendable (Result<Principal?, SyncError>) -> Void) {
        let generation = principals.generation
        let principals = self.principals
        read({ try $0.store.principal(tokenHash: tokenHash) }) { result in
            if case .success(let p?) = result { principals.store(tokenHash: tokenHash, p, generation: generation) }
            completion(result)
        }
    }
}
