import Foundation
import Synchronization
import SyncEngine
import Testing

/// `status` and the stable `error.code` of an error response, in one line per check.
func expectError(_ r: HTTPTestResponse, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == status, "status of \(r.text)", sourceLocation: sourceLocation)
    #expect(r.errorCode == code, "error code of \(r.status) \(r.text)", sourceLocation: sourceLocation)
    #expect(r.json["error"]?["message"]?.stringValue?.isEmpty == false, "error message", sourceLocation: sourceLocation)
}

/// Runs `body(i)` for `i` in `0..<count`, each on its own OS thread, all at once, and
/// waits for all of them (blocking sockets stay off the Swift concurrency pool).
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.stackSize = 1 << 20
        t.start()
    }
    group.wait()
}

/// Polls `condition` until true or `timeout` seconds pass: a wait on the condition
/// itself (the 2 ms pause is only how often it is looked at).
func eventually(timeout: Double = 2, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(2_000)
    }
    return try condition()
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}

/// `2026-11-23T05:17:48.123Z`: RFC 3339, UTC, milliseconds (openapi.yaml, the `Timestamp` schema).
func isRFC3339Millis(_ text: String?) -> Bool {
    guard let text else { return false }
    let shape = Array("dddd-dd-ddTdd:dd:dd.dddZ".utf8)
    let bytes = Array(text.utf8)
    guard bytes.count == shape.count else { return false }
    return zip(bytes, shape).allSatisfy { b, s in s == UInt8(ascii: "d") ? (0x30...0x39).contains(b) : b == s }
}

/// Clocks a test moves by hand (`PigeonholeServer.Configuration.api.clocks`), to age
/// data and refill rate-limit buckets without sleeping. Starts at the real time.
final class FakeClocks: Sendable {
    private let wall = Atomic<Int64>(SyncEngine.nowMillis())
    private let monotonic = Atomic<UInt64>(1_000_000_000)

    var clocks: Clocks {
        Clocks(wallMillis: { [self] in wall.load(ordering: .acquiring) },
               monotonicNanos: { [self] in monotonic.load(ordering: .acquiring) })
    }

    /// Moves both clocks forward.
    func advance(milliseconds ms: Int64) {
        wall.wrappingAdd(ms, ordering: .releasing)
        monotonic.wrappingAdd(UInt64(ms) * 1_000_000, ordering: .releasing)
    }
}

/// The files among `paths` whose bytes contain `text` (the erasure tests search a
/// database's files for a recalled text).
func files(_ paths: [String], containing text: String) -> [String] {
    paths.filter { FileManager.default.contents(atPath: $0)?.range(of: Data(text.utf8)) != nil }
}
