import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// A background thread that runs until asked to stop (the listener, presence): started
/// once; its body polls `isStopping`; `stop` waits until the body has returned.
final class ServiceThread: Sendable {
    private let started = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    func start(_ body: @escaping @Sendable () -> Void) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        StoreThread.start { [self] in
            body()
            finished.signal()
        }
    }

    func stop() {
        guard started.load(ordering: .acquiring), !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
    }
}
