@testable import SyncEngine
import Testing

/// The sweep's bookkeeping: each revocation is told once, those at the newest
/// millisecond are remembered (the next read starts at it, inclusive), and a read under
/// way makes the next round wait.
@Suite struct RevocationSweepTests {
    @Test func eachRevocationIsToldOnce() {
        let sweep = RevocationSweep(since: 100)
        let (a, b, c) = (DeviceID(1), DeviceID(2), DeviceID(3))
        let (u, v) = (UserID(10), UserID(11))
        #expect(sweep.begin() == 100)
        #expect(sweep.begin() == nil)   // one read at a time
        #expect(sweep.end([(a, u, 105), (b, v, 107)]) == [u: [a], v: [b]])
        #expect(sweep.begin() == 107)
        // b again (revoked at 107, the read is >= 107), c new at the same millisecond.
        #expect(sweep.end([(b, v, 107), (c, u, 107)]) == [u: [c]])
        #expect(sweep.begin() == 107)
        #expect(sweep.end([(b, v, 107), (c, u, 107)]).isEmpty)
        #expect(sweep.begin() == 107)
        #expect(sweep.end([]).isEmpty)
        #expect(sweep.begin() == 107)
    }
}
