import Dispatch
import SyncEngine
import Testing

extension StoreConformanceTests {
    // MARK: rate buckets shared by the stores of a cluster

    /// A bucket of 20 tokens refilled at 10 a second, taken from through two stores on one
    /// database at one instant: exactly 20 takes succeed, whichever store runs them; half
    /// a second later exactly 5 more. A charge after the fact goes into debt (one burst
    /// deep at most), and the bucket then refuses until it is paid back.
    @Test(arguments: allStoreFactories)
    func rateBucketsAreSharedByTheStoresOfOneDatabase(_ factory: any StoreFactory) throws {
        try Harness.with(factory) { h in
            let other = try h.second()
            defer { other.reader.close() }
            let stores = [h.store, other.store]
            let bucket = RateBucket(key: "send:d1", ratePerSecond: 10, burst: 20, what: "messages from this device")
            func take(_ n: Int, at: Int64) -> [Int] {
                let waits = Locked<[Int]>([])
                onThreads(n) { i in
                    let r = submitAndWait(stores[i % 2]) { w in try w.takeTokens(bucket, cost: 1, at: at, debt: false) }
                    waits.withLock { $0.append((try? r.get()) ?? -1) }
                }
                return waits.value
            }
            let first = take(40, at: 10_000)
            #expect(first.filter { $0 == 0 }.count == 20, "\(first)")
            #expect(first.allSatisfy { $0 >= 0 })
            #expect(first.filter { $0 > 0 }.allSatisfy { $0 <= 100 }, "one token comes every 100 ms: \(first)")
            let later = take(10, at: 10_500)
            #expect(later.filter { $0 == 0 }.count == 5, "\(later)")

            let debt = submitAndWait(h.store) { w in try w.takeTokens(bucket, cost: 100, at: 10_500, debt: true) }
            #expect((try? debt.get()) == 0)
            let owed = submitAndWait(other.store) { w in try w.takeTokens(bucket, cost: 0, at: 10_500, debt: false) }
            #expect((try? owed.get()) == 2_000, "20 tokens in debt at 10 a second")
            let paid = submitAndWait(other.store) { w in try w.takeTokens(bucket, cost: 0, at: 12_500, debt: false) }
            #expect((try? paid.get()) == 0)
        }
    }

    /// A send with the device's bucket (burst 3, 1 a second) through two stores at one
    /// instant: 3 stored, the rest refused with the wait and nothing written; a second
    /// later one more.
    @Test(arguments: allStoreFactories)
    func sendsTakeFromTheirBucketInTheSameUnit(_ factory: any StoreFactory) throws {
        let clock = FakeClock()
        try Harness.with(factory, clock: clock.function) { h in
            let other = try h.second(clock: clock.function)
            defer { other.reader.close() }
            let alice = try h.user("alice")
            let bob = try h.user("bob")
            let room = try h.group(alice, "limited", [bob])
            let bucket = RateBucket(key: "send:d\(alice.principal.device.rawValue)", ratePerSecond: 1, burst: 3,
                                    what: "messages from this device")
            let max = h.engine.config.maxMessageBodyBytes
            func send(_ via: Harness, _ key: String) -> Result<SendResult, SyncError> {
                via.write { try Messages.send($0, me: alice.principal, room: room, clientMsgID: key, body: "\"x\"",
                                              maxBodyBytes: max, bucket: bucket) }
            }
            var outcomes: [String] = []
            for i in 0..<6 {
                switch send(i % 2 == 0 ? h : other, "k\(i)") {
                case .success: outcomes.append("sent")
                case .failure(.rateLimited(let ms, let what)): outcomes.append("limited \(ms) \(what)")
                case .failure(let e): outcomes.append("\(e)")
                }
            }
            #expect(outcomes == ["sent", "sent", "sent"] + Array(repeating: "limited 1000 messages from this device", count: 3))
            #expect(try h.read { try $0.store.room(room) }?.lastSeq == 3, "refused sends wrote nothing")
            clock.advance(by: 1_000)
            #expect((try? send(other, "k6").get()) != nil)
            #expect((try? send(h, "k7").get()) == nil)
        }
    }
}
