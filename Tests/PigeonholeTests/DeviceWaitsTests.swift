@testable import SyncAPI
import SyncEngine
import Synchronization
import Testing

/// `DeviceWaits` without sockets: a device's waits, the first held inline and the rest
/// behind it, come and go in any order, and past the cap the oldest are ended, oldest
/// first (`DeviceWaitCapTests` checks the same over real pulls and sockets).
@Suite struct DeviceWaitsTests {
    let phone = DeviceID(1), laptop = DeviceID(2)

    @Test func waitsLeaveInAnyOrderAndTheOldestEndPastTheCap() {
        let waits = DeviceWaits(cap: 3)
        let ended = Mutex<[String]>([])
        func add(_ device: DeviceID, _ name: String) -> UInt64 {
            waits.add(device) { ended.withLock { $0.append(name) } }
        }
        let a = add(phone, "a")
        _ = add(phone, "b")
        _ = add(phone, "c")
        _ = add(laptop, "other")
        #expect(waits.count(phone) == 3 && waits.count(laptop) == 1)

        waits.remove(phone, a)   // the first: the next one takes its place
        waits.remove(phone, a)   // gone already: nothing
        waits.remove(phone, 999)   // never there: nothing
        #expect(waits.count(phone) == 2)
        let d = add(phone, "d")
        _ = add(phone, "e")   // 4 > 3: b, the oldest, ends
        #expect(ended.withLock { $0 } == ["b"] && waits.count(phone) == 3)

        waits.remove(phone, d)   // one in the middle: c, e left
        _ = add(phone, "f")   // c, e, f: within the cap
        #expect(ended.withLock { $0 } == ["b"])
        _ = add(phone, "g")   // c, the oldest, ends
        #expect(ended.withLock { $0 } == ["b", "c"] && waits.count(phone) == 3)
        #expect(waits.count(laptop) == 1)
    }

    @Test func theLastWaitGoneLeavesNothingAndNoCapEndsNothing() {
        let waits = DeviceWaits(cap: 0)
        let ids = (0..<20).map { _ in waits.add(phone) { Issue.record("no cap: nothing ends") } }
        #expect(waits.count(phone) == 20)
        for id in ids.reversed() { waits.remove(phone, id) }
        #expect(waits.count(phone) == 0)
        let again = waits.add(phone) {}
        #expect(waits.count(phone) == 1)
        waits.remove(phone, again)
        #expect(waits.count(phone) == 0)
    }
}
