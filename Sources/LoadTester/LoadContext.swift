import Synchronization

/// What every load-test actor shares: when sending ends, and where finished actors
/// leave their results. (Each actor is given the node it talks to.)
final class LoadContext: Sendable {
    /// 0 while sending; then the MonoTime millisecond after which draining devices give up.
    let drainDeadlineMillis = Atomic<Int>(0)
    let results = Mutex<LoadResults>(LoadResults())
    /// Devices that have caught up once (their next long-poll parks): sending waits for all.
    let settled = Atomic<Int>(0)
    /// The `--changes` mode: devices keep the state of every message they receive.
    let trackStates: Bool

    init(trackStates: Bool = false) { self.trackStates = trackStates }

    var draining: Bool { drainDeadlineMillis.load(ordering: .acquiring) != 0 }
}
