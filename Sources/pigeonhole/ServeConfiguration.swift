import HTTPServer
import Logging
import PostgresBackend
import SQLiteStore
import SyncAPI

/// Everything `pigeonhole serve` (and the admin commands and `demo`) is configured
/// with: the server's configuration, which store keeps the data where, and how to log.
/// Its initial values are the defaults: each is read from the struct that owns it
/// (`APIConfiguration`, `HTTPServerConfiguration`, `EngineConfiguration`,
/// `PostgresSyncStore.Options`, `Database.Options`, `Logger`), so a default is written
/// once, there; `SettingsTable` shows them in help and checks them against the docs.
struct ServeConfiguration {
    var server = PigeonholeServer.Configuration(adminToken: "")
    /// Where the SQLite database and the generated admin token live.
    var dataDirectory = "./data"
    var durability = Database.Options().durability
    /// `sqlite:` (or empty) is the embedded SQLite store; `postgres://...` is PostgreSQL.
    var databaseURL = "sqlite:"
    /// PostgreSQL's pool and writers (its `url` is `databaseURL`'s when chosen).
    var postgres = PostgresSyncStore.Options(url: "")
    /// `--admin-token` as given; nil generates one into the data directory (SQLite only).
    var adminToken: String?
    var logLevel = Logger().level

    var sqlitePath: String { dataDirectory + "/pigeonhole.sqlite" }

    var database: DatabaseChoice {
        guard DatabaseChoice.isPostgres(databaseURL) else { return .sqlite }
        var options = postgres
        options.url = databaseURL
        return .postgres(options)
    }

    var logger: Logger { Logger(level: logLevel) }

    /// What only a serving process needs on top of the settings' own checks: every
    /// node of a cluster has the same, given admin token; a pull waits no longer by
    /// default than it may at most.
    func checkedForServing() throws -> ServeConfiguration {
        if case .postgres = database, adminToken == nil {
            throw UsageError("with a PostgreSQL --database, give every node the same --admin-token (or PIGEONHOLE_ADMIN_TOKEN)")
        }
        var checked = self
        checked.server.api.defaultPollTimeout = min(server.api.defaultPollTimeout, server.api.maxPollTimeout)
        return checked
    }
}

/// `--database`: the embedded SQLite store (absent or `sqlite:`), or PostgreSQL.
enum DatabaseChoice {
    case sqlite
    case postgres(PostgresSyncStore.Options)

    static func isPostgres(_ url: String) -> Bool {
        url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")
    }

    /// A URL `--database` takes: empty, `sqlite:` or PostgreSQL's. Anything else is
    /// one line and exit code 1 (the password redacted).
    static func check(_ url: String) throws {
        guard url.isEmpty || url == "sqlite:" || isPostgres(url) else {
            throw CommandFailure("--database must be sqlite: or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, got '\(redacted(url))'")
        }
    }

    /// The URL without its password, for messages and logs.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}
