import HTTPClient
import HTTPServer
import Logging
import SQLiteStore
import SyncAPI

/// The settings themselves, in the order `serve --help` and docs/configuration.md list
/// them. No default is written here: each comes from the configuration the setting
/// writes (see `ServeConfiguration`).
extension SettingsTable {
    /// `pigeonhole serve`.
    static var serve: SettingsTable {
        SettingsTable([
            host, port, database, dataDirectory,
            .integer("db-pool", \.postgres.poolSize, range: 1...256,
                     help: "PostgreSQL: read connections per node, each with a read thread of its own"),
            .integer("db-writers", \.postgres.writers, range: 1...64,
                     help: "PostgreSQL: writers of the whole cluster (the database's write concurrency), shared by the live nodes, each at least one; each a group-committing connection, a room's writes always on the same one"),
            .choice("db-scrub", \.postgres.rewriteOnScrub, ["vacuum": false, "rewrite": true], placeholder: "vacuum|rewrite",
                    help: "PostgreSQL: after recalls, VACUUM the messages table, or rewrite it (VACUUM FULL: locks it while it copies) so no byte of a recalled text stays in its file"),
            Setting.integer("threads", \.server.http.threads, range: 1...256, help: "event loops (1-256)")
                .documenting(default: "one per core"),
            .integer("max-connections", \.server.http.maxConnections, range: 1...1_000_000,
                     help: "open connections before new ones get 503 too_many_connections"),
            .integer("max-connections-per-address", \.server.http.maxConnectionsPerAddress, range: 0...1_000_000,
                     help: "open connections from one client IP address before new ones get 503; 0 = no limit (behind a load balancer)"),
            .choice("durability", \.durability, ["full": .full, "normal": .normal], placeholder: "full|normal",
                    help: "SQLite synchronous mode: normal trades power-loss safety for speed (PostgreSQL always commits synchronously)"),
            adminToken,
            .seconds("header-timeout", \.server.http.headerTimeout, range: 1...3600,
                     help: "time a client has to send its request headers (then 408)"),
            .seconds("idle-timeout", \.server.http.idleTimeout, range: 1...86400,
                     help: "keep-alive idle time before the server closes a connection"),
            .seconds("body-timeout", \.server.http.bodyTimeout, range: 1...3600,
                     help: "time a request body has to arrive in all, from the end of its headers (then 408)"),
            .seconds("write-timeout", \.server.http.writeTimeout, range: 1...3600,
                     help: "a connection whose unsent answer has not moved for this long is closed"),
            .integer("max-body-bytes", \.server.http.maxBodyBytes, range: 1024...(64 << 20),
                     help: "transport request body limit (POST, PATCH and PUT routes have their own, lower one)"),
            .integer("poll-timeout-max", \.server.api.maxPollTimeout, range: 1...3600, placeholder: "SECONDS",
                     help: "longest long-poll wait; longer requested timeouts are clamped"),
            .integer("hot-threshold", \.server.api.engine.hotThreshold, range: 2...1_000_000,
                     help: "member count at which a room turns hot (read diffusion); a hot room stays hot"),
            .integer("rooms-per-user", \.server.api.engine.maxRoomsPerUser, range: 0...1_000_000,
                     help: "rooms one user may be in; one more is 409 room_limit; 0 = no limit"),
            .duration("offline-retention", \.server.api.engine.offlineRetentionMillis,
                      help: "how long events wait in a user's stream for devices to pull them; 0 = forever"),
            .duration("history-retention", \.server.api.engine.historyRetentionMillis,
                      help: "how long messages are kept (history, previews); 0 = forever"),
            .duration("edit-window", \.server.api.engine.editWindowMillis,
                      help: "how long after sending its sender may edit a message; 0 = never"),
            .duration("recall-window", \.server.api.engine.recallWindowMillis,
                      help: "how long after sending its sender may recall a message (a room's owner may always); 0 = never"),
            pushWebhook,
            .integer("push-max-attempts", \.server.api.engine.pushMaxAttempts, range: 1...100,
                     help: "failed deliveries (1-100) after which a push is dead"),
            .rate("send-rate", \.server.api.sendRatePerSecond, range: 0...1_000_000,
                  help: "sends per second per device, sustained; 0 = no limit"),
            .rate("send-burst", \.server.api.sendBurst, range: 1...1_000_000,
                  help: "sends a device may make at once above the rate"),
            .rate("room-rate", \.server.api.roomRatePerSecond, range: 0...1_000_000,
                  help: "rooms (groups and direct rooms) a device creates per second, sustained; 0 = no limit"),
            .rate("room-burst", \.server.api.roomBurst, range: 1...1_000_000,
                  help: "rooms a device may create at once above the rate"),
            .rate("member-rate", \.server.api.memberRatePerSecond, range: 0...1_000_000,
                  help: "members a device adds per second, those named when creating a group included; 0 = no limit"),
            // A burst below one full request (members_per_request_max) would refuse it forever.
            .rate("member-burst", \.server.api.memberBurst, range: 1000...10_000_000,
                  help: "members a device may add at once above the rate (at least 1000, one full request)"),
            .rate("room-membership-rate", \.server.api.roomMembershipRowsPerSecond, range: 0...100_000_000,
                  help: "inbox rows that members added to or removed from one room may write per second (bursts of \(Int(defaults.server.api.roomMembershipRowsBurst))); 0 = no limit"),
            .integer("waits-per-device", \.server.api.waitsPerDevice, range: 0...1_000_000,
                     help: "parked pulls and open /v1/notify sockets per device on a node; past it the oldest ends; 0 = no cap"),
            .integer("auth-failures-per-minute", range: 0...1_000_000,
                     help: "failed authentications per client address (bursts of \(Int(defaults.server.api.authFailureBurst))); 0 = no limit",
                     get: { Int($0.server.api.authFailureRatePerSecond * 60) },
                     set: { $0.server.api.authFailureRatePerSecond = Double($1) / 60 }),
            logLevel,
            .toggle("no-web-client", \.server.api.webClient, on: false,
                    help: "do not serve the web client at / and /app/ (both 404); the API is unchanged"),
        ])
    }

    /// `pigeonhole migrate`, `user` and `device`: which database, and how to log.
    static var admin: SettingsTable { SettingsTable([database, dataDirectory, logLevel]) }

    /// `pigeonhole demo`: a scratch data directory unless given, quieter logs, and no
    /// environment (a demo should not pick up a production server's variables).
    static var demo: SettingsTable {
        var base = ServeConfiguration()
        base.dataDirectory = ""
        base.logLevel = .warn
        return SettingsTable([host, port, dataDirectory.documenting(default: "a new scratch directory under /tmp"), logLevel],
                             base: base, readsEnvironment: false)
    }

    private static var defaults: ServeConfiguration { ServeConfiguration() }

    private static var host: Setting {
        .text("host", \.server.http.host, placeholder: "ADDR", help: "IPv4 address to listen on")
    }

    private static var port: Setting {
        .integer("port", \.server.http.port, range: 0...65535, help: "TCP port (0 = any free port)")
    }

    private static var database: Setting {
        .text("database", \.databaseURL, placeholder: "URL",
              help: "sqlite: (SQLite in --data-dir) or postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?...] (PostgreSQL; several servers on one database are nodes of one cluster)",
              check: DatabaseChoice.check)
        .reading("PIGEONHOLE_DATABASE_URL")
    }

    private static var dataDirectory: Setting {
        .text("data-dir", \.dataDirectory, placeholder: "DIR",
              help: "where the SQLite database and the generated admin token live; created if missing")
    }

    private static var adminToken: Setting {
        Setting("admin-token", placeholder: "TOKEN",
                help: "bearer token for /v1/admin/ and /metrics; required with PostgreSQL (the same on every node)",
                describe: { _ in .text("generated into DIR/admin-token") }, apply: { text, config in config.adminToken = text })
    }

    private static var pushWebhook: Setting {
        Setting("push-webhook", placeholder: "URL", help: "http://HOST[:PORT][/PATH] that offline pushes are POSTed to",
                describe: { $0.server.api.pushWebhook.map { .value($0) } ?? .text("none") }) { text, config in
            do { _ = try HTTPClient.parse(text) } catch { throw UsageError("--push-webhook must be http://HOST[:PORT][/PATH]") }
            config.server.api.pushWebhook = text
        }
    }

    private static var logLevel: Setting {
        Setting("log-level", placeholder: "LEVEL", help: "debug, info, warn or error",
                describe: { .value($0.logLevel.name) }) { text, config in
            guard let level = Logger.Level(name: text) else { throw UsageError("--log-level must be debug, info, warn or error") }
            config.logLevel = level
        }
    }
}
