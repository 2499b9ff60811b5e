import Glibc
import HTTPClient
import HTTPServer

/// One server node the load test talks to (`--url`, repeated or comma-separated).
/// Several nodes over one database is issue 12: devices and senders are spread over
/// them (`LoadPlan.deviceNode`, `LoadPlan.senderNode`) and the verifier reads what
/// each device got, wherever it was connected.
struct LoadTarget: Equatable, Sendable {
    /// As given, for the report.
    let url: String
    /// An IPv4 address (`localhost` is 127.0.0.1): the clients connect without DNS.
    let host: String
    let port: UInt16

    static let defaultURL = "http://127.0.0.1:8080"

    /// `http://HOST:PORT[/...]` per entry; each entry may itself be a comma-separated
    /// list. The error names the bad entry.
    static func parse(_ entries: [String]) throws -> [LoadTarget] {
        var out: [LoadTarget] = []
        for entry in entries {
            for part in entry.split(separator: ",", omittingEmptySubsequences: false) {
                let url = part.trimmedOWS()
                guard let target = LoadTarget(url) else {
                    throw CommandFailure("--url '\(url)' is not http://HOST:PORT with an IPv4 address or localhost")
                }
                out.append(target)
            }
        }
        if out.isEmpty { out.append(LoadTarget(defaultURL)!) }
        return out
    }

    init?(_ url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let hostPort = url.dropFirst(7).split(separator: "/", omittingEmptySubsequences: false).first ?? ""
        let parts = hostPort.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = UInt16(parts[1]), port > 0 else { return nil }
        let host = parts[0] == "localhost" ? "127.0.0.1" : String(parts[0])
        var addr = in_addr()
        guard inet_pton(AF_INET, host, &addr) == 1 else { return nil }
        self.url = url
        self.host = host
        self.port = port
    }

    /// Fails in one line unless the node answers `GET /healthz` with 200, so a wrong or
    /// stopped node is found before anything is provisioned.
    func checkHealth() throws {
        let client = BlockingHTTPClient(host: host, port: port)
        let status: Int
        do { status = try client.request("GET", "/healthz", token: nil).status } catch {
            throw CommandFailure("--url \(url): \(error)")
        }
        guard status == 200 else { throw CommandFailure("--url \(url): /healthz answered HTTP \(status)") }
    }
}

