import Synchronization
import SyncEngine
import Testing

/// Tokens resolved recently, on a monotonic clock the test moves: an entry lives
/// exactly `ttl`; a revocation removes its device's entries and makes a lookup that
/// began before it unable to store its (stale) answer; `clear` forgets everything; the
/// cache never grows past its capacity.
@Suite struct PrincipalCacheTests {
    final class FakeMonotonic: Sendable {
        private let nanos = Atomic<UInt64>(1_000_000_000)
        var function: @Sendable () -> UInt64 { { [self] in nanos.load(ordering: .relaxed) } }
        func advance(_ d: UInt64) { nanos.wrappingAdd(d, ordering: .relaxed) }
    }

    static func principal(_ device: Int64, user: Int64 = 1) -> Principal {
        Principal(user: UserID(user), userName: "u\(user)", device: DeviceID(device), deviceName: "d\(device)")
    }

    static let phone: [UInt8] = Tokens.hash("ph_phone"), laptop: [UInt8] = Tokens.hash("ph_laptop")

    @Test func anEntryLivesExactlyItsTTL() {
        let clock = FakeMonotonic()
        let cache = PrincipalCache(ttl: .seconds(10), monotonicNanos: clock.function)
        #expect(cache.principal(tokenHash: Self.phone) == nil)
        cache.store(tokenHash: Self.phone, Self.principal(1), generation: cache.generation)
        #expect(cache.principal(tokenHash: Self.phone) == Self.principal(1))
        #expect(cache.principal(tokenHash: Self.laptop) == nil)
        clock.advance(10_000_000_000 - 1)
        #expect(cache.principal(tokenHash: Self.phone) == Self.principal(1))
        clock.advance(1)
        #expect(cache.principal(tokenHash: Self.phone) == nil)
        #expect(cache.count == 0)   // an expired entry found is dropped
    }

    @Test func aRevocationRemovesItsDevicesAndFencesOffOlderLookups() {
        let cache = PrincipalCache(monotonicNanos: FakeMonotonic().function)
        cache.store(tokenHash: Self.phone, Self.principal(1), generation: cache.generation)
        cache.store(tokenHash: Self.laptop, Self.principal(2), generation: cache.generation)
        let began = cache.generation   // a lookup of the phone's token starts reading ...
        cache.revoke([DeviceID(1)])
        #expect(cache.principal(tokenHash: Self.phone) == nil)
        #expect(cache.principal(tokenHash: Self.laptop) == Self.principal(2))
        // ... and finishes after the revocation, with what it read before: not stored.
        cache.store(tokenHash: Self.phone, Self.principal(1), generation: began)
        #expect(cache.principal(tokenHash: Self.phone) == nil)
        // A lookup that began after it is stored.
        cache.store(tokenHash: Self.phone, Self.principal(1), generation: cache.generation)
        #expect(cache.principal(tokenHash: Self.phone) == Self.principal(1))
        // Revoking nobody is no revocation.
        let now = cache.generation
        cache.revoke([])
        #expect(cache.generation == now)
    }

    @Test func clearForgetsEverythingAndFencesToo() {
        let cache = PrincipalCache(monotonicNanos: FakeMonotonic().function)
        let began = cache.generation
        cache.store(tokenHash: Self.phone, Self.principal(1), generation: began)
        cache.clear()
        #expect(cache.count == 0)
        cache.store(tokenHash: Self.laptop, Self.principal(2), generation: began)
        #expect(cache.principal(tokenHash: Self.laptop) == nil)
    }

    @Test func neverPastItsCapacity() {
        let cache = PrincipalCache(capacity: 2, monotonicNanos: FakeMonotonic().function)
        for d in Int64(1)...5 {
            cache.store(tokenHash: Tokens.hash("ph_\(d)"), Self.principal(d), generation: cache.generation)
            #expect(cache.count <= 2)
        }
        #expect(cache.principal(tokenHash: Tokens.hash("ph_5")) == Self.principal(5))
    }
}
