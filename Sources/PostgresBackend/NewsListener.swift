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
    private let isConnected = Atomic<Bool>(false)
    private let thread = ServiceThread()

    init(url: String, nodeID: String, connectTimeoutSeconds: Int, deliver: @escaping @Sendable (RemoteNews) -> Void) {
        self.url = url
        self.nodeID = nodeID
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.deliver = deliver
    }

    var connected: Bool { isConnected.load(ordering: .acquiring) }

    func start() { thread.start { [self] in run() } }

    func stop() { thread.stop() }

    private func run() {
        var backoffMillis: UInt32 = 50
        while !thread.isStopping {
            guard let conn = try? PGConnection(url: url, connectTimeoutSeconds: connectTimeoutSeconds,
                                               applicationName: "pigeonhole-listener"),
                  (try? conn.execute("LISTEN \(PostgresSyncStore.channel)")) != nil else {
                usleep(backoffMillis * 1000)
                backoffMillis = min(1000, backoffMillis * 2)
                continue
            }
            backoffMillis = 50
            isConnected.store(true, ordering: .releasing)
            // Whatever other nodes sent before this LISTEN (while away, or before the first
            // one: requests may be parked already) is not lost: every waiter queries again.
            deliver(.recheckAll)
            listen(conn)
            isConnected.store(false, ordering: .releasing)
            conn.close()
        }
    }

    /// Waits for notifications until the connection fails or the node stops.
    private func listen(_ conn: PGConnection) {
        var pfd = pollfd(fd: conn.socket, events: Int16(POLLIN), revents: 0)
        var idleRounds = 0
        while !thread.isStopping {
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
        let own = nodeID + " "
        for n in received {
            // This node's own news (every commit of its writers comes back here too) is
            // passed over before it is parsed: it was published after its commit.
            guard !n.payload.hasPrefix(own), let (_, news) = NewsCodec.decode(n.payload) else { continue }
            merged.merge(news)
        }
        if !merged.isEmpty { deliver(.news(merged)) }
    }
}
