import Synchronization
import SyncEngine

/// Parked pulls and open `/v1/notify` sockets per device, capped (`--waits-per-device`).
/// A real client holds one socket and one pull; one that opens more (behind a balancer
/// nothing else limits its connections) would make every wake-up cost the node a read
/// per connection. Over the cap the device's oldest wait ends: a pull is answered with
/// what is there (an empty page keeps its cursor), a socket is closed with 1008. Ending
/// the oldest, not refusing the newest, keeps a client whose old connections died
/// silently (a NAT dropped them) working at once. Per node, in memory.
final class DeviceWaits: Sendable {
    private struct Entry: Sendable {
        let id: UInt64
        let end: @Sendable () -> Void
    }

    /// A device's waits, oldest first: the first inline (a real client has one), the
    /// rest in an array only when there are more.
    private struct Waits {
        var first: Entry
        var rest: [Entry] = []
        var count: Int { 1 + rest.count }
    }

    private struct State {
        var next: UInt64 = 1
        var byDevice: [DeviceID: Waits] = [:]
    }

    private let state = Mutex(State())
    /// 0: no cap.
    let cap: Int

    init(cap: Int) { self.cap = cap }

    /// Registers a wait of `device`; `end` is how to end it early (it must hop to the
    /// wait's own loop). Ends the device's oldest waits past the cap. Returns the id to
    /// hand to `remove`.
    func add(_ device: DeviceID, end: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, evicted) = state.withLock { s -> (UInt64, [Entry]) in
            let id = s.next
            s.next += 1
            let entry = Entry(id: id, end: end)
            guard var waits = s.byDevice[device] else {
                s.byDevice[device] = Waits(first: entry)
                return (id, [])
            }
            waits.rest.append(entry)
            var evicted: [Entry] = []
            if cap > 0 && waits.count > cap {
                let all = [waits.first] + waits.rest
                evicted = Array(all.prefix(all.count - cap))
                let kept = all.suffix(cap)
                waits = Waits(first: kept.first!, rest: Array(kept.dropFirst()))
            }
            s.byDevice[device] = waits
            return (id, evicted)
        }
        for e in evicted { e.end() }
        return id
    }

    func remove(_ device: DeviceID, _ id: UInt64) {
        state.withLock { s in
            guard var waits = s.byDevice[device] else { return }
            if waits.first.id == id {
                guard !waits.rest.isEmpty else {
                    s.byDevice[device] = nil
                    return
                }
                waits.first = waits.rest.removeFirst()
            } else {
                waits.rest.removeAll { $0.id == id }
            }
            s.byDevice[device] = waits
        }
    }

    func count(_ device: DeviceID) -> Int { state.withLock { $0.byDevice[device]?.count ?? 0 } }
}
