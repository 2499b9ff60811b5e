import Foundation
import Testing

/// One connection cannot hold its event loop: each connection gets a budget of work
/// per turn (`Connection.workPerTurn`), then the loop's other connections get theirs.
@Suite(.timeLimit(.minutes(3)))
struct LoopFairnessTests {
    /// A client pipelines requests without pause (and reads every answer, so no buffer
    /// bound stops it) on a server with one loop. Requests on other connections of that
    /// loop are answered within tens of milliseconds, every time.
    @Test func aPipeliningFloodDoesNotHoldItsLoop() throws {
        try TestServer.with(configure: { $0.http.threads = 1 }) { server in
            let flood = try server.connect(timeout: 10)
            let stop = Locked(false)
            let stopReading = Locked(false)
            let request = Array("GET /v1/limits HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
            let burst = Array([[UInt8]](repeating: request, count: 1000).joined())
            let writer = DispatchSemaphore(value: 0)
            Thread {
                while !stop.value { if !flood.writeRaw(burst) { break } }
                writer.signal()
            }.start()
            let reader = DispatchSemaphore(value: 0)
            let drained = Locked(0)
            Thread {
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while !stopReading.value {
                    let n = flood.readRaw(&buffer)
                    if n <= 0 { break }
                    drained.withLock { $0 += n }
                }
                reader.signal()
            }.start()
            #expect(eventually { drained.value > 1 << 20 })   // the flood is being served

            var worst: Duration = .zero
            for _ in 0..<20 {
                let probe = try server.connect(timeout: 5)
                let started = ContinuousClock.now
                let r = try probe.get("/healthz")
                worst = max(worst, ContinuousClock.now - started)
                #expect(r.status == 200)
            }
            // The writer first (the reader keeps the server's answers flowing meanwhile).
            stop.withLock { $0 = true }
            _ = writer.wait(timeout: .now() + 5)
            stopReading.withLock { $0 = true }
            _ = reader.wait(timeout: .now() + 5)
            flood.close()
            print("probes beside a pipelining flood on one loop: worst \(worst.milliseconds) ms")
            #expect(worst < .milliseconds(250), "a probe waited \(worst) beside a pipelining flood")
        }
    }
}
