import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// The cluster broadcast's receiving end: a thread with its own connection that
/// `LISTEN`s on `PostgresSyncStore.channel` and hands other nodes' news to this node
/// (its own it published already, after its commits). When the connection drops it
/// reconnects (backing off up to 1 s) and, once listening again, has every waiter
/// query again: news sent while it was away is not lost, only coalesced. The same after
/// the first LISTEN, since the server may already hold parked requests.
final class NewsListener: @unchecked Sendable {
    private let url: String
    private let nodeID: String
    private let connectTimeoutSeconds: Int
    private let deliver: @Sendable (RemoteNews) -> Void
    private let stopping = Atomic<Bool>(false)
    private let isConnected = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// Connections made after the first (tests and logs).
    let reconnects = Atomic<Int>(0)
    /// The connection in use, so tests can cut it (`pg_terminate_backend` needs its pid).
    let backendPID = Atomic<Int32>(0)

    init(url: String, nodeID: String, connectTimeoutSeconds: Int, deliver: @escaping @Sendable (RemoteNews) -> Void) {
        self.url = url
        self.nodeID = nodeID
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.deliver = deliver
    }

    var connected: Bool { isConnected.load(ordering: .acquiring) }

    func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Thread { [self] in run() }.start()
    }

    func stop() {
        guard started.load(ordering: .acquiring), !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
    }

    private func run() {
        var first = true
        var backoffMillis: UInt32 = 50
        while !stopping.load(ordering: .acquiring) {
            guard let conn = try? PGConnection(url: url, connectTimeoutSeconds: connectTimeoutSeconds,
                                               applicationName: "pigeonhole-listener"),
                  (try? conn.execute("LISTEN \(PostgresSyncStore.channel)")) != nil else {
                usleep(backoffMillis * 1000)
                backoffMillis = min(1000, backoffMillis * 2)
                continue
            }
            backoffMillis = 50
            backendPID.store((try? conn.queryOne("SELECT pg_backend_pid()") { Int32($0.int64(0)) }) ?? 0, ordering: .relaxed)
            isConnected.store(true, ordering: .releasing)
            if first {
                first = false
            } else {
                reconnects.add(1, ordering: .relaxed)
            }
            // Whatever other nodes sent before this LISTEN (while away, or before the first
            // one: requests may be parked already) is not lost: every waiter queries again.
            deliver(.recheckAll)
            listen(conn)
            isConnected.store(false, ordering: .releasing)
            conn.close()
        }
        finished.signal()
    }

    /// Waits for notifications until the connection fails or the node stops.
    private func listen(_ conn: PGConnection) {
        var pfd = pollfd(fd: conn.socket, events: Int16(POLLIN), revents: 0)
        var idleRounds = 0
        while !stopping.load(ordering: .acquiring) {
            let r = poll(&pfd, 1, 250)
            if r < 0 && errno != EINTR { return }
            guard r > 0 else {
                // Quiet for 5 s: a round trip finds a connection that died silently.
                idleRounds += 1
                if idleRounds >= 20 {
                    idleRounds = 0
                    guard (try? conn.query("SELECT 1")) != nil else { return }
                    pfd.revents = 0
                    if let pending = try? conn.notifications(), !pending.isEmpty { deliverAll(pending) }
                }
                continue
            }
            idleRounds = 0
            guard let received = try? conn.notifications() else { return }
            deliverAll(received)
            if pfd.revents & Int16(POLLHUP | POLLERR) != 0 { return }
        }
    }

    private func deliverAll(_ received: [(channel: String, payload: String)]) {
        var merged = StoreNews()
        for n in received {
            guard let (node, news) = NewsCodec.decode(n.payload), node != nodeID else { continue }
            merged.merge(news)
        }
        if !merged.isEmpty { deliver(.news(merged)) }
    }
}
