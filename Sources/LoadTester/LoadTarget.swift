import Glibc
import HTTPClient

/// One server node the load test talks to (`--url`, repeated or comma-separated).
/// Several nodes over one database is issue 12: devices and senders are spread over
/// them (`LoadPlan.deviceNode`, `LoadPlan.sendNode`) and the verifier reads what
/// each device got, wherever it was connected.
package struct LoadTarget: Equatable, Sendable {
    /// As given, for the report.
    package let url: String
    /// An IPv4 address (`localhost` is 127.0.0.1): the clients connect without DNS.
    package let host: String
    package let port: UInt16

    static let defaultURL = "http://127.0.0.1:8080"

    /// `http://HOST:PORT[/...]` per entry; each entry may itself be a comma-separated
    /// list. The error names the bad entry.
    package static func parse(_ entries: [String]) throws -> [LoadTarget] {
        var out: [LoadTarget] = []
        for entry in entries {
            for part in entry.split(separator: ",", omittingEmptySubsequences: false) {
                let url = Self.trimmed(part)
                guard let target = LoadTarget(url) else {
                    throw LoadTestFailure(description: "--url '\(url)' is not http://HOST:PORT with an IPv4 address or localhost")
                }
                out.append(target)
            }
        }
        if out.isEmpty { out.append(LoadTarget(defaultURL)!) }
        return out
    }

    package init?(_ url: String) {
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
            throw LoadTestFailure(description: "--url \(url): \(error)")
        }
        guard status == 200 else { throw LoadTestFailure(description: "--url \(url): /healthz answered HTTP \(status)") }
    }

    /// `s` without the spaces and tabs around it.
    private static func trimmed(_ s: Substring) -> String {
        var s = s
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
