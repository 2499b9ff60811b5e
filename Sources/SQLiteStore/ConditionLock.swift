#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// State guarded by a pthread mutex, with a condition variable to sleep on until the
/// state satisfies a predicate.
///
/// `Synchronization.Mutex` has no condition variable, and the writer must *sleep*
/// until commands arrive (no polling, no spinning), which is what
/// `pthread_cond_wait` is for. `@unchecked Sendable` because the compiler cannot see
/// that every access to `state` happens with `mutex` held; all of them are in the
/// two `withLock` methods below. The pthread objects live in heap memory of their
/// own because they must not move (a Swift stored property may).
final class ConditionLock<State>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    init(_ state: State) {
        self.state = state
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Sleeps until `ready(state)` holds, then runs `body` under the same lock hold,
    /// so nothing can change the state between the check and `body`. The predicate is
    /// re-checked after every wake-up: pthread allows spurious wake-ups.
    func withLock<R>(waitingUntil ready: (State) -> Bool, _ body: (inout State) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(state) {
            pthread_cond_wait(condition, mutex)
        }
        return try body(&state)
    }

    /// Wakes every waiter to re-check its predicate. Broadcast rather than signal:
    /// the writer thread and a starting `Writer.init` wait on different predicates.
    func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
