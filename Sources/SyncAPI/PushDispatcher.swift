import Dispatch
import HTTPServer
import JSON
import Synchronization
import SyncEngine

/// Delivers the push outbox to the webhook: batches of JSON, each push with a stable
/// `id` for de-duplication; deleted on 2xx, retried with backoff and jitter otherwise,
/// dead after the maximum attempts (see `GET /v1/admin/pushes`). Delivery is at least
/// once: a crash between the webhook's 2xx and the delete repeats the batch.
///
/// Confinement: `db` and `client` are only used on `queue` (a serial queue); the
/// blocking webhook call therefore never touches an event loop or the writer.
final class PushDispatcher: @unchecked Sendable {
    private let engine: SyncEngine
    private let url: HTTPClient.URLParts
    private let client: HTTPClient
    private let db: any StoreReadConnection
    private let queue = DispatchQueue(label: "pigeonhole.push")
    private let pollInterval: Duration
    private let batchSize: Int
    private let log: Logger
    private let stopped = Atomic<Bool>(false)
    let deliveredCount = Atomic<Int>(0)
    let failedAttempts = Atomic<Int>(0)

    init(engine: SyncEngine, webhook: HTTPClient.URLParts, db: any StoreReadConnection, pollInterval: Duration, timeout: Duration,
         batchSize: Int = 100, log: Logger) {
        self.engine = engine
        self.url = webhook
        self.client = HTTPClient(timeout: timeout)
        self.db = db
        self.pollInterval = pollInterval
        self.batchSize = batchSize
        self.log = log
    }

    func start() { queue.async { [self] in tick() } }

    /// Stops after the delivery in progress (if any) has been recorded.
    func stop() {
        stopped.store(true, ordering: .releasing)
        queue.sync {}
        db.close()
    }

    private func tick() {
        guard !stopped.load(ordering: .acquiring) else { return }
        let due = (try? engine.read(db) { try PushOutbox.due($0.store, now: $0.now, limit: batchSize) }) ?? []
        if due.isEmpty {
            let ms = Int(pollInterval.components.seconds * 1000 + pollInterval.components.attoseconds / 1_000_000_000_000_000)
            queue.asyncAfter(deadline: .now() + .milliseconds(max(1, ms))) { [self] in tick() }
            return
        }
        deliver(due)
        queue.async { [self] in tick() }
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
