import Synchronization

/// The parked polls, so a shutdown can answer them instead of cutting them off.
final class PollRegistry: Sendable {
    private let polls = Mutex<[ObjectIdentifier: LongPoll]>([:])

    func add(_ p: LongPoll) { polls.withLock { $0[ObjectIdentifier(p)] = p } }
    func remove(_ p: LongPoll) { _ = polls.withLock { $0.removeValue(forKey: ObjectIdentifier(p)) } }
    var count: Int { polls.withLock { $0.count } }

    func finishAll() {
        for p in polls.withLock({ Array($0.values) }) { p.loop.execute { p.finishNow() } }
    }
}
