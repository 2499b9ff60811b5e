import Glibc
import HTTPServer
import Synchronization
import SyncEngine

/// Request counters and latency histograms by route, and the Prometheus text
/// exposition (format 0.0.4) of everything the server can report about itself.
final class Metrics: Sendable {
    static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    private struct Histogram {
        var counts = [Int](repeating: 0, count: Metrics.latencyBuckets.count + 1)
        var sum = 0.0
    }

    private struct Key: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private struct State {
        var requests: [Key: Int] = [:]
        var latency: [String: Histogram] = [:]     // by route
    }

    private let state = Mutex(State())

    /// Methods that get their own label; any other token a client invents is "other",
    /// so the label set (and `/metrics`) stays bounded whatever clients send. Routes are
    /// bounded already: a matched pattern, or "unmatched".
    static let labelledMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]

    func observe(route: String, method rawMethod: String, status: Int, nanos: UInt64) {
        let method = Self.labelledMethods.contains(rawMethod) ? rawMethod : "other"
        let seconds = Double(nanos) / 1e9
        let bucket = Self.latencyBuckets.firstIndex { seconds <= $0 } ?? Self.latencyBuckets.count
        state.withLock { s in
            s.requests[Key(route: route, method: method, status: status), default: 0] += 1
            s.latency[route, default: Histogram()].counts[bucket] += 1
            s.latency[route, default: Histogram()].sum += seconds
        }
    }

    struct Gauges {
        var connections = 0
        var webSockets = 0
        var parkedPolls = 0
        var outboxDepth: Int?
        /// Pulls served with no read of their own: answered from a wake-up's message,
        /// answered from a socket's offer, parked on an answered pull's subscription.
        var pullsFromNews = 0
        var pullsFromOffers = 0
        var pullsFromContinuations = 0
    }

    func render(engine: SyncEngine, gauges: Gauges) -> String {
        var out = ""
        func header(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func line(_ name: String, _ labels: String, _ value: String) {
            out += labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(labels)} \(value)\n"
        }
        /// Cumulative `_bucket` lines (`counts` has one more entry than `bounds`: +Inf), `_sum`, `_count`.
        func histogram(_ name: String, _ labels: String, bounds: [String], counts: [Int], sum: Double?) {
            let prefix = labels.isEmpty ? "" : labels + ","
            var cumulative = 0
            for (i, n) in counts.enumerated() {
                cumulative += n
                line(name + "_bucket", prefix + #"le="\#(i < bounds.count ? bounds[i] : "+Inf")""#, "\(cumulative)")
            }
            if let sum { line(name + "_sum", labels, "\(sum)") }
            line(name + "_count", labels, "\(cumulative)")
        }
        let s = state.withLock { $0 }
        header("pigeonhole_http_requests_total", "counter", "Requests answered, by route, method and status.")
        let ordered = s.requests.sorted { a, b in
            (a.key.route, a.key.method, a.key.status) < (b.key.route, b.key.method, b.key.status)
        }
        for (key, n) in ordered {
            line("pigeonhole_http_requests_total", #"route="\#(key.route)",method="\#(key.method)",status="\#(key.status)""#, "\(n)")
        }
        header("pigeonhole_http_request_duration_seconds", "histogram", "Time from a complete request to its response (long-polls included).")
        for (route, h) in s.latency.sorted(by: { $0.key < $1.key }) {
            histogram("pigeonhole_http_request_duration_seconds", #"route="\#(route)""#,
                      bounds: Self.latencyBuckets.map { "\($0)" }, counts: h.counts, sum: h.sum)
        }
        header("pigeonhole_connections_open", "gauge", "Open client connections (WebSockets included).")
        line("pigeonhole_connections_open", "", "\(gauges.connections)")
        header("pigeonhole_websockets_open", "gauge", "Open /v1/notify WebSockets.")
        line("pigeonhole_websockets_open", "", "\(gauges.webSockets)")
        header("pigeonhole_long_polls_parked", "gauge", "GET /v1/sync requests waiting for news.")
        line("pigeonhole_long_polls_parked", "", "\(gauges.parkedPolls)")

        let w = engine.store.stats
        header("pigeonhole_writer_transactions_total", "counter", "Group-commit transactions committed.")
        line("pigeonhole_writer_transactions_total", "", "\(w.transactionsCommitted)")
        header("pigeonhole_writer_transactions_failed_total", "counter", "Transactions rolled back by a storage error.")
        line("pigeonhole_writer_transactions_failed_total", "", "\(w.transactionsFailed)")
        header("pigeonhole_writer_commands_total", "counter", "Write commands (units of work) completed.")
        line("pigeonhole_writer_commands_total", "", "\(w.unitsCompleted)")
        header("pigeonhole_writer_batch_size", "histogram", "Commands per group commit.")
        let sizes = w.batchSizeHistogram
        histogram("pigeonhole_writer_batch_size", "", bounds: (0..<(sizes.count - 1)).map { "\(1 << $0)" }, counts: sizes, sum: nil)
        header("pigeonhole_writer_commit_seconds", "histogram", "BEGIN to durable COMMIT of one batch.")
        histogram("pigeonhole_writer_commit_seconds", "", bounds: w.commitBuckets.map { "\($0)" },
                  counts: w.commitLatencyCounts, sum: w.commitLatencySum)
        header("pigeonhole_writer_round_trips_total", "counter",
               "Round trips the writers made to PostgreSQL (a statement or a pipeline of them each; 0 on SQLite).")
        line("pigeonhole_writer_round_trips_total", "", "\(w.roundTrips)")
        header("pigeonhole_writer_pipeline_fallbacks_total", "counter",
               "Pipelined batches rolled back and run again a statement at a time (PostgreSQL).")
        line("pigeonhole_writer_pipeline_fallbacks_total", "", "\(w.pipelineFallbacks)")
        header("pigeonhole_writers_active", "gauge",
               "Writers taking units on this node (PostgreSQL: --db-writers shared among the live nodes; 1 on SQLite).")
        line("pigeonhole_writers_active", "", "\(w.writersActive)")
        header("pigeonhole_inbox_rows_written_total", "counter", "Inbox rows written (write diffusion).")
        line("pigeonhole_inbox_rows_written_total", "", "\(engine.inboxRowsWritten.count)")
        header("pigeonhole_notifier_wakeups_total", "counter", "Callbacks the Notifier made (pulls and sockets woken).")
        line("pigeonhole_notifier_wakeups_total", "", "\(engine.notifier.wakeUps)")
        header("pigeonhole_store_reads_total", "counter", "Reads submitted to the store (snapshots on its read threads).")
        line("pigeonhole_store_reads_total", "", "\(engine.readsStarted.count)")
        header("pigeonhole_remote_news_read_total", "counter",
               "Other nodes' news whose messages this node read once and woke its pulls and sockets with (PostgreSQL; 0 on SQLite).")
        line("pigeonhole_remote_news_read_total", "", "\(engine.remoteNewsRead)")
        header("pigeonhole_pulls_without_read_total", "counter",
               "Pulls served with no read of their own: answered from a wake-up's message (news), from a socket's offer after mail (offer), or parked on an answered pull's subscription (continuation).")
        line("pigeonhole_pulls_without_read_total", #"path="news""#, "\(gauges.pullsFromNews)")
        line("pigeonhole_pulls_without_read_total", #"path="offer""#, "\(gauges.pullsFromOffers)")
        line("pigeonhole_pulls_without_read_total", #"path="continuation""#, "\(gauges.pullsFromContinuations)")
        if let depth = gauges.outboxDepth {
            header("pigeonhole_push_outbox_depth", "gauge", "Pushes waiting for delivery (dead ones excluded).")
            line("pigeonhole_push_outbox_depth", "", "\(depth)")
        }
        header("pigeonhole_process_resident_memory_bytes", "gauge", "Resident set size.")
        line("pigeonhole_process_resident_memory_bytes", "", "\(Self.residentBytes())")
        header("pigeonhole_process_open_fds", "gauge", "Open file descriptors.")
        line("pigeonhole_process_open_fds", "", "\(Self.openFDs())")
        return out
    }

    /// VmRSS from /proc/self/status.
    static func residentBytes() -> Int {
        guard let f = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let s = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if s.hasPrefix("VmRSS:") {
                let digits = s.filter { $0.isNumber }
                return (Int(digits) ?? 0) * 1024
            }
        }
        return 0
    }

    static func openFDs() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while readdir(dir) != nil { n += 1 }
        return max(0, n - 3)   // ".", ".." and the directory's own fd
    }
}
