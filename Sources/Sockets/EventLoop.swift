import CLinux
import Dispatch
import Glibc
import Synchronization

/// Something registered on an event loop's epoll set (a listener or a connection).
package protocol LoopRegistrant: AnyObject {
    func handleEvents(_ events: IOEvents)
}

/// An opaque handle to a scheduled timer, for cancellation.
public struct TimerToken: Hashable, Sendable {
    let id: UInt64
}

/// One epoll event loop on its own thread (Redis `ae.c` in spirit): file events,
/// a timer heap, and a queue of tasks posted from other threads, woken by an eventfd.
///
/// Confinement: every stored `var` is touched only on the loop thread. The only
/// cross-thread entry points are `execute(_:)`, `stop()` and `isCurrent`, which use a
/// Mutex, Atomics and the eventfd. That is why `@unchecked Sendable` is sound here.
public final class EventLoop: @unchecked Sendable {
    public let index: Int
    let epfd: Int32
    private let wakeFD: Int32
    private static let wakeToken: UInt64 = 1

    private let tasks = Mutex<[@Sendable () -> Void]>([])
    private let wakePending = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let threadID = Atomic<UInt>(0)
    private let exited = DispatchSemaphore(value: 0)

    private var timers = TimerHeap()
    private var registrants: [UInt64: LoopRegistrant] = [:]
    private var nextToken: UInt64 = 16
    /// Per-loop scratch buffer for reads, so idle connections hold no read buffer.
    package var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    /// Callbacks run once per iteration after events and timers (connections flush here).
    private var beforeSleep: [() -> Void] = []

    package init(index: Int) throws {
        self.index = index
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw SocketError.system(call: "epoll_create1", errno: errno) }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw SocketError.system(call: "eventfd", errno: errno) }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = Self.wakeToken
        epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, &ev)
    }

    deinit {
        Glibc.close(epfd)
        Glibc.close(wakeFD)
    }

    /// True when called on this loop's thread.
    public var isCurrent: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    // MARK: cross-thread

    /// Runs `task` on the loop thread, soon. Safe from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        tasks.withLock { $0.append(task) }
        if isCurrent { return }   // the loop drains tasks before it sleeps again
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) {
            var one: UInt64 = 1
            _ = Glibc.write(wakeFD, &one, 8)
        }
    }

    /// Asks the loop to exit after its current iteration. Safe from any thread.
    package func stop() {
        stopping.store(true, ordering: .releasing)
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    package func waitUntilExited() { exited.wait() }

    // MARK: loop-only

    /// Schedules `callback` on this loop after `delay`. Loop thread only.
    @discardableResult
    public func schedule(after delay: Duration, _ callback: @escaping () -> Void) -> TimerToken {
        TimerToken(id: timers.schedule(at: MonotonicClock.now() &+ delay.nanoseconds, callback))
    }

    /// Cancels a timer; a no-op if it already fired. Loop thread only.
    public func cancel(_ token: TimerToken) { timers.cancel(token.id) }

    func addBeforeSleep(_ hook: @escaping () -> Void) { beforeSleep.append(hook) }

    package func register(fd: Int32, events: IOEvents, _ registrant: LoopRegistrant) -> UInt64 {
        let token = nextToken
        nextToken += 1
        var ev = epoll_event()
        ev.events = events.rawValue
        ev.data.u64 = token   // a token, not the fd: events of a closed, reused fd are ignored
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
        registrants[token] = registrant
        return token
    }

    package func modify(fd: Int32, token: UInt64, events: IOEvents) {
        var ev = epoll_event()
        ev.events = events.rawValue
        ev.data.u64 = token
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
    }

    package func unregister(fd: Int32, token: UInt64) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil)
        registrants[token] = nil
    }

    var registrantCount: Int { registrants.count }

    /// Starts the loop's thread, named `ph-<name>` (what `top -H` and `perf` show).
    package func start(name: String) {
        LoopThread { [self] in
            _ = pthread_setname_np(pthread_self(), String("ph-\(name)".utf8.prefix(15))!)
            self.run()
        }.start()
    }

    private func run() {
        threadID.store(UInt(pthread_self()), ordering: .relaxed)
        let capacity = 512
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer {
            events.deallocate()
            exited.signal()
        }
        while !stopping.load(ordering: .acquiring) {
            let n = epoll_wait(epfd, events, Int32(capacity), waitTimeoutMillis())
            if n < 0 && errno != EINTR { break }
            for i in 0..<max(0, Int(n)) {
                let ev = events[i]
                let token = ev.data.u64
                if token == Self.wakeToken {
                    var v: UInt64 = 0
                    _ = Glibc.read(wakeFD, &v, 8)
                    wakePending.store(false, ordering: .releasing)
                } else {
                    registrants[token]?.handleEvents(IOEvents(rawValue: ev.events))
                }
            }
            runDueTimers()
            runTasks()
            for hook in beforeSleep { hook() }
        }
        runTasks(all: true)
    }

    private func waitTimeoutMillis() -> Int32 {
        if !tasks.withLock({ $0.isEmpty }) { return 0 }
        guard let deadline = timers.nextDeadline() else { return -1 }
        let now = MonotonicClock.now()
        if deadline <= now { return 0 }
        // Round up so a timer never fires early and the loop does not spin on 0 ms waits.
        return Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
    }

    private func runDueTimers() {
        if timers.isEmpty { return }
        for callback in timers.popDue(now: MonotonicClock.now()) { callback() }
    }

    /// Tasks run per iteration at most: a burst posted at once (a thousand woken pulls
    /// answered together) is served a slice at a time, with the loop's sockets and
    /// timers in between, so no other client waits for the whole burst.
    static let tasksPerIteration = 16

    private func runTasks(all: Bool = false) {
        // Tasks may post more tasks; those run on a later iteration (no starvation of I/O).
        let batch = tasks.withLock { t -> [@Sendable () -> Void] in
            if all || t.count <= Self.tasksPerIteration {
                let b = t
                t.removeAll(keepingCapacity: true)
                return b
            }
            let b = Array(t.prefix(Self.tasksPerIteration))
            t.removeFirst(Self.tasksPerIteration)
            return b
        }
        for task in batch { task() }
    }
}
