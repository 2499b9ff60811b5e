import Dispatch
import Glibc
import Synchronization

/// A thread-safe boolean for "work may be waiting".
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    /// Returns whether it was set, clearing it.
    func take() -> Bool { value.exchange(false, ordering: .acquiringAndReleasing) }
    /// Sets it; false if it was already set.
    func trySet() -> Bool { !value.exchange(true, ordering: .acquiringAndReleasing) }
}

/// A monotonically increasing count, readable from any thread.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public func add(_ n: Int) { value.wrappingAdd(n, ordering: .relaxed) }
    public var count: Int { value.load(ordering: .relaxed) }
}
