import PostgresBackend
import Glibc

/// Throwaway databases for tests: a database per test on the server that
/// `PIGEONHOLE_TEST_DATABASE_URL` names. A target of its own (test-only, not in the
/// product) so the conformance suite and the end-to-end tests share it.
public enum TestPostgres {
    public static let environmentVariable = "PIGEONHOLE_TEST_DATABASE_URL"

    /// The configured server, or nil (then PostgreSQL tests are skipped, never passed).
    public static var serverURL: String? {
        guard let v = getenv(environmentVariable) else { return nil }
        let s = String(cString: v)
        return s.isEmpty ? nil : s
    }

    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    public final class Database: Sendable {
        public let name: String
        public let url: String
        let serverURL: String

        init(name: String, url: String, serverURL: String) {
            self.name = name
            self.url = url
            self.serverURL = serverURL
        }

        /// Drops the database (ending its other sessions first).
        public func drop() {
            guard let c = try? PGConnection(url: serverURL) else { return }
            _ = try? c.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            c.close()
        }
    }

    /// Creates an empty database with a unique name.
    public static func createDatabase() throws -> Database {
        guard let server = serverURL else {
            throw Unavailable(description: "no PostgreSQL: set \(environmentVariable) to run the PostgreSQL tests")
        }
        var random = SystemRandomNumberGenerator()
        let bits: UInt64 = random.next()
        let name = "pigeonhole_t_" + String(bits, radix: 36)
        let c = try PGConnection(url: server)
        defer { c.close() }
        try c.execute("CREATE DATABASE \(name)")
        return Database(name: name, url: withDatabase(server, name), serverURL: server)
    }

    /// `url` (a `postgres://` or `postgresql://` URI) with its database replaced by `name`.
    public static func withDatabase(_ url: String, _ name: String) -> String {
        let chars = Array(url)
        guard let colon = chars.firstIndex(of: ":"), chars.count > colon + 2, chars[colon + 1] == "/", chars[colon + 2] == "/"
        else { return url + " dbname=" + name }
        let authorityStart = colon + 3
        let query = chars[authorityStart...].firstIndex(of: "?") ?? chars.count
        let slash = chars[authorityStart..<query].firstIndex(of: "/") ?? query
        let head = String(chars[..<slash])
        let tail = String(chars[query...])
        return head + "/" + name + tail
    }
}
