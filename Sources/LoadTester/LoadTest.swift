import Dispatch
import Glibc
import HTTPClient
import JSON
import Sockets
import Synchronization

/// `pigeonhole loadtest`: provisions users, devices and rooms through the admin API,
/// then drives senders, syncing devices and idle waiters as non-blocking connections
/// on a few client event loops, and at the end verifies what every device received
/// (exactly once, in per-room seq order) and what the first screen says is unread;
/// with `changes`, also that every device converged on each message's current state.
/// With several `targets` (nodes over one database) setup goes to the first, and
/// devices, senders and idle clients are spread as `LoadPlan` says.
package struct LoadTest {
    let targets: [LoadTarget]
    let adminToken: String
    let plan: LoadPlan
    let scenarioName: String
    let devicesPerUser: Int
    let duration: Double
    /// Total sends per second across all senders (open loop), or nil for as fast as answered.
    let rate: Double?
    let transport: DeviceActor.Transport
    let idle: Int
    let readEvery: Int
    /// The fraction of operations that change a message instead of sending one (0: none).
    let changes: Double
    let clientThreads: Int
    /// Local server processes whose RSS and CPU are reported (summed).
    let serverPIDs: [Int32]
    let json: Bool

    package init(targets: [LoadTarget], adminToken: String, plan: LoadPlan, scenarioName: String, devicesPerUser: Int,
                 duration: Double, rate: Double?, transport: DeviceActor.Transport, idle: Int, readEvery: Int,
                 changes: Double = 0, clientThreads: Int, serverPIDs: [Int32], json: Bool) {
        self.targets = targets
        self.adminToken = adminToken
        self.plan = plan
        self.scenarioName = scenarioName
        self.devicesPerUser = devicesPerUser
        self.duration = duration
        self.rate = rate
        self.transport = transport
        self.idle = idle
        self.readEvery = readEvery
        self.changes = changes
        self.clientThreads = clientThreads
        self.serverPIDs = serverPIDs
        self.json = json
    }

    /// `429 rate_limited`: the status and the error code of a response, for counting.
    static func errorKey(_ r: ClientConnection.Response) -> String {
        let code = (try? JSONParser.parse(r.body))?["error"]?["code"]?.stringValue
        return "\(r.status)" + (code.map { " " + $0 } ?? "")
    }

    /// Each node once, however many times it was named (one address and port, one process).
    var distinctTargets: [LoadTarget] {
        var seen: Set<String> = []
        return targets.filter { seen.insert("\($0.host):\($0.port)").inserted }
    }

    package func run() throws {
        for t in distinctTargets { try t.checkHealth() }
        let setup = try provision()
        // Senders get a loop of their own, so their timing is not skewed by devices
        // busy reading a fan-out; devices and idle clients share the others.
        let group = try EventLoopGroup(threads: clientThreads + 1)
        defer { group.shutdown() }
        let outcome = try drive(setup, on: group)
        try verify(setup, outcome)
    }

    /// Percent-encodes everything but unreserved characters (for a cursor in a query).
    static func percentEncoded(_ s: String) -> String {
        var out = ""
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    func log(_ s: String) {
        let bytes = Array(("loadtest: " + s + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
