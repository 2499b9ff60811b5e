import Dispatch
import Synchronization
import SyncEngine
import Testing

/// The read threads' queue: first in, first out, except that a job submitted `ahead`
/// runs before every job waiting without it (`SyncStore.readAhead`).
@Suite(.timeLimit(.minutes(3)))
struct ReadThreadsTests {
    final class NoConnection: StoreReadConnection {
        func snapshot<T>(_ body: (any StoreReader) throws -> T) throws(SyncError) -> T { throw .storageUnavailable }
        func ping() throws(SyncError) {}
        func close() {}
    }

    @Test func aJobAheadRunsBeforeTheJobsWaiting() {
        let threads = ReadThreads(count: 1) { NoConnection() }
        defer { threads.stop() }
        let order = Mutex<[String]>([])
        let busy = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        // The one thread is held, so everything after waits in the queue.
        threads.submit { _ in
            busy.signal()
            release.wait()
        }
        busy.wait()
        let done = DispatchSemaphore(value: 0)
        for name in ["a", "b"] { threads.submit { _ in order.withLock { $0.append(name) }; done.signal() } }
        threads.submit({ _ in order.withLock { $0.append("ahead") }; done.signal() }, ahead: true)
        threads.submit { _ in order.withLock { $0.append("c") }; done.signal() }
        release.signal()
        for _ in 0..<4 { #expect(done.wait(timeout: .now() + 5) == .success) }
        #expect(order.withLock { $0 } == ["ahead", "a", "b", "c"])
    }
}
