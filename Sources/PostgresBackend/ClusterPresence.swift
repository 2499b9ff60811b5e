import Dispatch
import Glibc
import Synchronization
import SyncEngine

/// "Does this user have a live connection on any node?" for push decisions.
///
/// Each node publishes the users it holds a parked pull or socket for in `presence`
/// (rows keyed by node) and refreshes `nodes.seen_at` every `interval`, on a thread and
/// connection of its own; it reads the other nodes' users at the same pace. A node
/// not seen for `expiry` is ignored (it died; its rows are removed by whichever node
/// sweeps next). Answers come from memory: this node's Notifier, or the set read last.
/// A user who just connected on another node may therefore still look offline for up
/// to two intervals: they may get one push they did not need, never miss a message
/// (pushes are hints; the pull is the truth). Each round also counts the live nodes
/// (this one included), among which the cluster's writers are shared
/// (`PostgresSyncStore.shareWriters`).
final class ClusterPresence: Presence, @unchecked Sendable {
    private let url: String
    private let nodeID: String
    private let local: any Presence
    private let connectTimeoutSeconds: Int
    private let intervalMillis: Int
    private let expiryMillis: Int64 = 15_000
    private let remote = Mutex<Set<UserID>>([])
    private let thread = ServiceThread()
    /// Told the live nodes (this one included) every round: the writers are shared by them.
    private let liveNodes: @Sendable (Int) -> Void

    init(url: String, nodeID: String, local: any Presence, connectTimeoutSeconds: Int, intervalMillis: Int = 1000,
         liveNodes: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.liveNodes = liveNodes
        self.url = url
        self.nodeID = nodeID
        self.local = local
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.intervalMillis = intervalMillis
    }

    func isOnline(_ user: UserID) -> Bool {
        local.isOnline(user) || remote.withLock { $0.contains(user) }
    }

    func onlineUsers() -> [UserID] {
        Array(remote.withLock { $0 }.union(local.onlineUsers()))
    }

    func start() { thread.start { [self] in run() } }

    func stop() { thread.stop() }

    private static let now = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

    private func run() {
        var conn: PGConnection?
        var published: Set<UserID>? = nil   // nil: unknown (start, or after reconnecting)
        var round = 0
        while !thread.isStopping {
            do {
                if conn == nil || !(conn!.isOpen) {
                    conn = try PGConnection(url: url, connectTimeoutSeconds: connectTimeoutSeconds,
                                            applicationName: "pigeonhole-presence")
                    published = nil
                }
                let c = conn!
                var inserted = false
                try c.query("""
                    INSERT INTO nodes (id, started_at, seen_at) VALUES ($1, \(Self.now), \(Self.now))
                    ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at RETURNING (xmax = 0)
                    """, [.text(nodeID)]) { inserted = $0.bool(0) }
                // A new row: first round, or another node swept this one after a stall
                // (its presence rows went with it): publish everything again.
                if inserted { published = nil }
                let mine = Set(local.onlineUsers())
                if published == nil {
                    try c.query("DELETE FROM presence WHERE node_id = $1", [.text(nodeID)])
                    published = []
                }
                let added = mine.subtracting(published!), removed = published!.subtracting(mine)
                if !added.isEmpty {
                    try c.query("""
                        INSERT INTO presence (node_id, user_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING
                        """, [.text(nodeID), .int64Array(added.map(\.rawValue))])
                }
                if !removed.isEmpty {
                    try c.query("DELETE FROM presence WHERE node_id = $1 AND user_id = ANY($2::bigint[])",
                                [.text(nodeID), .int64Array(removed.map(\.rawValue))])
                }
                published = mine
                let others = try c.queryAll("""
                    SELECT DISTINCT p.user_id FROM presence p JOIN nodes n ON n.id = p.node_id
                    WHERE n.id <> $1 AND n.seen_at > \(Self.now) - $2
                    """, [.text(nodeID), .int(expiryMillis)]) { UserID($0.int64(0)) }
                remote.withLock { $0 = Set(others) }
                let live = try c.queryOne("SELECT count(*) FROM nodes WHERE seen_at > \(Self.now) - $1",
                                          [.int(expiryMillis)]) { $0.int(0) } ?? 1
                liveNodes(max(1, live))
                round += 1
                if round % 30 == 1 {
                    try c.query("DELETE FROM nodes WHERE seen_at < \(Self.now) - $1", [.int(expiryMillis * 4)])
                }
            } catch {
                conn?.close()
                conn = nil
            }
            var waited = 0
            while waited < intervalMillis && !thread.isStopping {
                usleep(50_000)
                waited += 50
            }
        }
        // Leaving: this node's users are no longer online here.
        _ = try? conn?.query("DELETE FROM nodes WHERE id = $1", [.text(nodeID)])
        conn?.close()
    }
}
