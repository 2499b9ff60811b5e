import Foundation
import Testing

/// `GET /metrics`: Prometheus text, admin token only, counting what actually happened.
@Suite(.timeLimit(.minutes(3)))
struct MetricsTests {
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// Issue 13, item 6: requests with invented methods grew the metrics table (and
    /// `/metrics`, to 81 MB) forever. Every unknown method is one label, every
    /// unmatched path another.
    @Test func inventedMethodsAndPathsAreOneLabelEach() throws {
        try TestServer.with { server in
            let c = try server.connect()
            for i in 0..<2000 {
                c.send("M\(i)X", "/no/such/path/\(i)")
                #expect(try c.readResponse().status == 404)
            }
            let text = try server.admin.get("/metrics", token: TestServer.adminToken).text
            #expect(Self.value(text, #"pigeonhole_http_requests_total{route="unmatched",method="other",status="404"}"#) == 2000)
            let series = text.split(separator: "\n").filter { $0.hasPrefix("pigeonhole_http_requests_total{") }
            #expect(series.count <= 3, "\(series)")   // this one, plus the admin calls of the fixture
            #expect(text.utf8.count < 64 * 1024)
        }
    }

    @Test func countsRequestsWritesAndGauges() throws {
        try TestServer.with { server in
            let alice = try server.createUser("alice", device: "phone")
            _ = try server.createUser("bob", device: "phone")
            let room = try alice.directRoom(with: "bob")
            for i in 0..<3 { try alice.sendOK(room, "m\(i)", "hi") }
            #expect(try alice.get("/v1/rooms/\(room)/messages").status == 200)
            #expect(try alice.get("/v1/nope").status == 404)

            #expect(try alice.get("/metrics").status == 401)   // a device token is not enough
            let r = try server.admin.get("/metrics", token: TestServer.adminToken)
            #expect(r.status == 200)
            #expect(r.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = r.text
            #expect(Self.value(text, #"pigeonhole_http_requests_total{route="/v1/rooms/{id}/messages",method="POST",status="201"}"#) == 3)
            #expect(Self.value(text, #"pigeonhole_http_requests_total{route="/v1/rooms/{id}/messages",method="GET",status="200"}"#) == 1)
            #expect(Self.value(text, #"pigeonhole_http_requests_total{route="unmatched",method="GET",status="404"}"#) == 1)
            #expect(Self.value(text, #"pigeonhole_http_request_duration_seconds_count{route="/v1/rooms/{id}/messages"}"#) == 4)
            // 3 messages x 2 members, plus the direct room's two "created" events.
            #expect(Self.value(text, "pigeonhole_inbox_rows_written_total") == 8)
            let commits = try #require(Self.value(text, "pigeonhole_writer_transactions_total"))
            #expect(commits >= 1 && Self.value(text, "pigeonhole_writer_commit_seconds_count") == commits)
            #expect((Self.value(text, "pigeonhole_connections_open") ?? 0) >= 2)
            #expect(Self.value(text, "pigeonhole_websockets_open") == 0)
            #expect(Self.value(text, "pigeonhole_long_polls_parked") == 0)
            #expect((Self.value(text, "pigeonhole_process_resident_memory_bytes") ?? 0) > 1_000_000)
            #expect((Self.value(text, "pigeonhole_process_open_fds") ?? 0) > 3)
            #expect((Self.value(text, "pigeonhole_store_reads_total") ?? 0) >= 1)   // the history page
        }
    }

    /// The pulls served without a read of their own, by path: a parked pull answered
    /// from the message's wake-up, then its re-poll parked on its subscription.
    @Test func countsPullsWithoutARead() throws {
        try TestServer.with { server in
            let (alice, _, _, phone, _, cursor) = try AnsweredPull.make(on: server)
            phone.send("GET", "/v1/sync?cursor=\(cursor)&timeout=10", token: alice.token)
            #expect(eventually { server.parkedPolls == 1 })
            let text = try server.admin.get("/metrics", token: TestServer.adminToken).text
            #expect(Self.value(text, #"pigeonhole_pulls_without_read_total{path="news"}"#) == 1)
            #expect(Self.value(text, #"pigeonhole_pulls_without_read_total{path="continuation"}"#) == 1)
            #expect(Self.value(text, #"pigeonhole_pulls_without_read_total{path="offer"}"#) == 0)
        }
    }
}
