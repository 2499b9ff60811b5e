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

    private struct State {
        var next: UInt64 = 1
        var byDevice: [DeviceID: [Entry]] = [:]
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
            var list = s.byDevice[device, default: []]
            list.append(Entry(id: id, end: end))
            var evicted: [Entry] = []
            if cap > 0 && list.count > cap {
                evicted = Array(list.prefix(list.count - cap))
                list.removeFirst(list.count - cap)
            }
            s.byDevice[device] = list
            return (id, evicted)
        }
        for e in evicted { e.end() }
        return id
    }

    func remove(_ device: DeviceID, _ id: UInt64) {
        state.withLock { s in
            guard var list = s.byDevice[device] else { return }
            list.removeAll { $0.id == id }
            s.byDevice[device] = list.isEmpty ? nil : list
        }
    }

    func count(_ device: DeviceID) -> Int { state.withLock { $0.byDevice[device]?.count ?? 0 } }
}
