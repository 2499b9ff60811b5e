import Dispatch
import HTTPServer
import JSON
import Synchronization
import SyncEngine
import Logging
import HTTPClient

/// Delivers the push outbox to the webhook: batches of JSON, each push with a stable
/// `id` for de-duplication; deleted on 2xx, retried with backoff and jitter otherwise,
/// dead after the maximum attempts (see `GET /v1/admin/pushes`). Delivery is at least
/// once: a crash between the webhook's 2xx and the delete repeats the batch.
///
/// Several nodes may run a dispatcher over one database: each batch is claimed in a unit
/// of work (`PushOutbox.claimDue`: the rows' next attempt moves forward by a lease), so
/// a push goes to one dispatcher at a time, and to another only if the first one died
/// and its lease ran out.
///
/// Confinement: `client` is only used on `queue` (a serial queue); the blocking webhook
/// call therefore never touches an event loop or the writer.
final class PushDispatcher: @unchecked Sendable {
    private let engine: SyncEngine
    private let url: HTTPClient.URLParts
    private let client: HTTPClient
    /// How long a claimed batch is this dispatcher's: beyond the webhook's timeout and
    /// the recording of the outcome.
    private let leaseMillis: Int64
    private let queue = DispatchQueue(label: "pigeonhole.push")
    private let pollInterval: Duration
    private let batchSize: Int
    private let log: Logger
    private let stopped = Atomic<Bool>(false)
    let deliveredCount = Atomic<Int>(0)
    let failedAttempts = Atomic<Int>(0)

    init(engine: SyncEngine, webhook: HTTPClient.URLParts, pollInterval: Duration, timeout: Duration,
         batchSize: Int = 100, log: Logger) {
        self.engine = engine
        self.url = webhook
        self.client = HTTPClient(timeout: timeout)
        self.leaseMillis = timeout.components.seconds * 1000 * 4 + 30_000
        self.pollInterval = pollInterval
        self.batchSize = batchSize
        self.log = log
    }

    func start() { queue.async { [self] in tick() } }

    /// Stops after the delivery in progress (if any) has been recorded.
    func stop() {
        stopped.store(true, ordering: .releasing)
        queue.sync {}
    }

    private func tick() {
        guard !stopped.load(ordering: .acquiring) else { return }
        let due = claim()
        if due.isEmpty {
            let ms = Int(pollInterval.components.seconds * 1000 + pollInterval.components.attoseconds / 1_000_000_000_000_000)
            queue.asyncAfter(deadline: .now() + .milliseconds(max(1, ms))) { [self] in tick() }
            return
        }
        deliver(due)
        queue.async { [self] in tick() }
    }

    /// Claims up to `batchSize` due pushes (empty when none is due or the store failed).
    private func claim() -> [PushOutbox.Push] {
        let claimed = Mutex<[PushOutbox.Push]>([])
        let done = DispatchSemaphore(value: 0)
        let (limit, lease) = (batchSize, leaseMillis)
        engine.write({ try PushOutbox.claimDue($0, limit: limit, leaseMillis: lease) }) { result in
            if case .success(let pushes) = result { claimed.withLock { $0 = pushes } }
            done.signal()
        }
        done.wait()
        return claimed.withLock { $0 }
    }

    private func deliver(_ pushes: [PushOutbox.Push]) {
        var w = JSONWriter()
        w.object { w in
            w.key("pushes")
            w.array { w in
                for p in pushes {
                    w.object { w in
                        w.field("id", p.pushID)
                        w.field("user", p.user)
                        w.field("room_id", p.message.room.rawValue)
                        w.field("attempt", p.attempts + 1)
                        w.key("message")
                        Encode.message(p.message, &w)
                    }
                }
            }
        }
        let ids = pushes.map(\.rowID)
        var failure: String? = nil
        do {
            let r = try client.post(url, json: w.bytes)
            if !(200..<300).contains(r.status) { failure = "webhook answered \(r.status)" }
        } catch {
            failure = "\(error)"
        }
        let done = DispatchSemaphore(value: 0)
        if let failure {
            failedAttempts.wrappingAdd(pushes.count, ordering: .relaxed)
            log.warn("push delivery failed", ["pushes": pushes.count, "error": failure])
            engine.write({ try PushOutbox.failed($0, rowIDs: ids, error: failure, random: { Int64.random(in: 0..<max(1, $0)) }) }) { _ in
                done.signal()
            }
        } else {
            deliveredCount.wrappingAdd(pushes.count, ordering: .relaxed)
            engine.write({ try PushOutbox.delivered($0, rowIDs: ids) }) { _ in done.signal() }
        }
        done.wait()
    }
}
