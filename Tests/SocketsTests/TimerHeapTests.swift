import Testing
@testable import Sockets

struct TimerHeapTests {
    @Test func firesInDeadlineOrderAndSkipsCancelled() {
        var heap = TimerHeap()
        var fired: [Int] = []
        let order = [50, 10, 40, 20, 30]
        var ids: [Int: UInt64] = [:]
        for d in order { ids[d] = heap.schedule(at: UInt64(d)) { fired.append(d) } }
        heap.cancel(ids[40]!)
        #expect(heap.nextDeadline() == 10)
        for cb in heap.popDue(now: 35) { cb() }
        #expect(fired == [10, 20, 30])
        #expect(heap.nextDeadline() == 50)   // 40 was cancelled
        for cb in heap.popDue(now: 100) { cb() }
        #expect(fired == [10, 20, 30, 50])
        #expect(heap.isEmpty)
    }

    @Test func manyCancelledTimersDoNotAccumulate() {
        var heap = TimerHeap()
        for i in 0..<10_000 {
            let id = heap.schedule(at: UInt64(i)) {}
            heap.cancel(id)
        }
        #expect(heap.count == 0)
        #expect(heap.nextDeadline() == nil)
    }
}
