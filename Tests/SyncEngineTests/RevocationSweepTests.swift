@testable import SyncEngine
import Testing

/// The sweep's bookkeeping: each revocation is told once, a read looks a margin back
/// before the newest revocation seen (one stamped earlier, after the clock stepped back,
/// is still found), and a read under way makes the next round wait.
@Suite struct RevocationSweepTests {
    @Test func eachRevocationIsToldOnce() {
        let margin = RevocationSweep.marginMillis
        let sweep = RevocationSweep(since: 100_000)
        let (a, b, c, d) = (DeviceID(1), DeviceID(2), DeviceID(3), DeviceID(4))
        let (u, v) = (UserID(10), UserID(11))
        #expect(sweep.begin() == 100_000 - margin)
        #expect(sweep.begin() == nil)   // one read at a time
        #expect(sweep.end([(a, u, 100_005), (b, v, 100_007)]) == [u: [a], v: [b]])
        #expect(sweep.begin() == 100_007 - margin)
        // a and b again (the read looks back), c new at the same millisecond as b, and d
        // stamped before both (the clock stepped back): each new one told once.
        #expect(sweep.end([(a, u, 100_005), (b, v, 100_007), (c, u, 100_007), (d, v, 99_000)]) == [u: [c], v: [d]])
        #expect(sweep.begin() == 100_007 - margin)
        #expect(sweep.end([(a, u, 100_005), (b, v, 100_007), (c, u, 100_007), (d, v, 99_000)]).isEmpty)
        #expect(sweep.begin() == 100_007 - margin)
        #expect(sweep.end([]).isEmpty)
    }
}
