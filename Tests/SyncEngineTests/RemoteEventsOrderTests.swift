import Synchronization
@testable import SyncEngine
import Testing

/// `RemoteEvents` with its reads held by the test: one read at a time, news that
/// arrives meanwhile merged and read next, every piece of news published exactly once
/// and never a later position before an earlier one; news nobody here listens to
/// published without a read; a failed read publishes the positions alone.
@Suite struct RemoteEventsOrderTests {
    let alice = UserID(1), bob = UserID(2)

    /// The reads asked for, each completed when the test says.
    final class HeldReads: Sendable {
        private let pending = Mutex<[@Sendable (Result<Notifier.Events, SyncError>) -> Void]>([])
        var count: Int { pending.withLock { $0.count } }

        var read: RemoteEvents.Read {
            { [self] _, completion in pending.withLock { $0.append(completion) } }
        }

        /// Completes the oldest read still held.
        func complete(_ result: Result<Notifier.Events, SyncError>) {
            let next = pending.withLock { $0.removeFirst() }
            next(result)
        }
    }

    @Test func newsMeanwhileIsMergedAndPublishedAfterInOrder() {
        let n = Notifier(), heard = Heard(), reads = HeldReads()
        _ = n.subscribe(alice, heard.callback("alice"))
        let remote = RemoteEvents(notifier: n, read: reads.read)

        remote.receive(StoreNews(users: [alice: 5]))
        #expect(reads.count == 1)
        remote.receive(StoreNews(users: [alice: 6, bob: 3]))
        remote.receive(StoreNews(users: [alice: 7]))
        #expect(reads.count == 1, "a second read began before the first ended")
        #expect(heard.take().isEmpty, "news went out before its read")

        var first = Notifier.Events()
        first.inbox[alice] = (seq: 5, message: Heard.message(50, seq: 1))
        reads.complete(.success(first))
        #expect(heard.take() == ["alice: inbox 5 m50"])
        // The two that came meanwhile, merged into one read: alice at 7.
        #expect(reads.count == 1)
        var merged = Notifier.Events()
        merged.inbox[alice] = (seq: 7, message: Heard.message(70, seq: 3))
        reads.complete(.success(merged))
        #expect(heard.take() == ["alice: inbox 7 m70"])
        #expect(reads.count == 0)
        #expect(remote.enriched.count == 2)

        // A read that fails: the positions alone.
        remote.receive(StoreNews(users: [alice: 8]))
        reads.complete(.failure(.storageUnavailable))
        #expect(heard.take() == ["alice: inbox 8 -"])
        #expect(remote.enriched.count == 2)
    }

    @Test func newsForNobodyHereIsPublishedWithoutARead() {
        let n = Notifier(), heard = Heard(), reads = HeldReads()
        _ = n.subscribe(alice, heard.callback("alice"))
        let remote = RemoteEvents(notifier: n, read: reads.read)
        remote.receive(StoreNews(users: [bob: 4], receipts: [alice: [RoomID(3)]]))
        #expect(reads.count == 0)
        #expect(heard.take() == ["alice: receipts 3"])
        // And then a read again for news that has a listener.
        remote.receive(StoreNews(users: [alice: 9]))
        #expect(reads.count == 1)
    }
}
