// swift-tools-version:6.0
import PackageDescription

// Dependency arrows point one way (see ARCHITECTURE.md):
//   CLinux/CZlib -> HTTPServer ────────────┐
//   JSON -> SyncEngine (the domain and the store interface) -> SyncAPI -> pigeonhole
//   CSQLite -> SQLiteStore -> SQLiteBackend (SyncStore on SQLite) ──────┤ (constructed by the executable)
//   CPQ -> PostgresBackend (SyncStore on PostgreSQL, several nodes) ─────┘
// HTTPServer knows nothing of messages; SyncEngine knows nothing of HTTP or SQL.
let package = Package(
    name: "Pigeonhole",
    products: [
        .executable(name: "pigeonhole", targets: ["pigeonhole"]),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPQ", path: "Sources/CPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // Header-only: epoll, eventfd, accept4 (Glibc's Swift module exports none of them).
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),

        // The socket and event-loop layer: epoll loops, timers, non-blocking sockets.
        .target(name: "Sockets", dependencies: ["CLinux"]),
        // Structured log lines on stderr.
        .target(name: "Logging"),
        .target(name: "HTTPServer", dependencies: ["Sockets", "Logging", "CZlib", "JSON"]),
        // HTTP/1.1 clients: a blocking one per request (the push webhook), a blocking
        // keep-alive one (demo, load-test setup) and a non-blocking one on the event
        // loops that can open a WebSocket (the load generator).
        // WebSocket (RFC 6455): frames, the handshake, and the server's sessions, which
        // take over upgraded connections through the HTTP server's UpgradeHandler hook.
        .target(name: "WebSocket", dependencies: ["HTTPServer", "Sockets"]),
        .target(name: "HTTPClient", dependencies: ["WebSocket", "Sockets", "JSON"]),
        .target(name: "SQLiteStore", dependencies: ["CSQLite"]),
        // A strict JSON value type, parser and writer (no Foundation JSON on the hot path).
        .target(name: "JSON"),
        .target(name: "SyncEngine", dependencies: ["JSON", "CLinux"]),
        // The embedded SQLite backend of the store interface: all SQL lives here.
        .target(name: "SQLiteBackend", dependencies: ["SyncEngine", "SQLiteStore", "JSON"],
                plugins: ["EmbedMigrationsPlugin"]),
        // The PostgreSQL backend (several nodes over one database): all its SQL lives here.
        .target(name: "PostgresBackend", dependencies: ["SyncEngine", "CPQ", "JSON"],
                plugins: ["EmbedMigrationsPlugin"]),
        .target(name: "SyncAPI", dependencies: ["HTTPServer", "WebSocket", "HTTPClient", "Sockets", "Logging", "SyncEngine", "JSON"],
                plugins: ["EmbedWebClientPlugin"]),
        // The load generator behind `pigeonhole loadtest`, with its exactly-once verifier.
        .target(name: "LoadTester", dependencies: ["HTTPClient", "Sockets", "JSON"]),
        .executableTarget(name: "pigeonhole", dependencies: ["SyncAPI", "SQLiteBackend", "PostgresBackend", "HTTPClient", "LoadTester"]),

        // Build-time embedding of top-level migrations/*.sql into SQLiteBackend, so the
        // binary carries its schema wherever it runs and migrations/ stays the one source.
        .executableTarget(name: "MigrationEmbedder", path: "Sources/MigrationEmbedder"),
        .plugin(name: "EmbedMigrationsPlugin", capability: .buildTool(),
                dependencies: ["MigrationEmbedder"], path: "Sources/EmbedMigrationsPlugin"),
        // The same for the web client: top-level web/*.{html,css,js} into SyncAPI.
        .executableTarget(name: "WebClientEmbedder", path: "Sources/WebClientEmbedder"),
        .plugin(name: "EmbedWebClientPlugin", capability: .buildTool(),
                dependencies: ["WebClientEmbedder"], path: "Sources/EmbedWebClientPlugin"),

        .testTarget(name: "SocketsTests", dependencies: ["Sockets"]),
        // The server end to end on real sockets (with its WebSocket upgrade, and the
        // event-loop client against it), the parsers, and the fuzz-corpus regressions.
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "WebSocket", "HTTPClient", "Sockets", "JSON"]),
        .testTarget(name: "WebSocketTests", dependencies: ["WebSocket"]),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient"]),
        .testTarget(name: "SQLiteStoreTests", dependencies: ["SQLiteStore", "SQLiteBackend", "SyncEngine"]),
        // The load generator's verifier, scenario plans and sync-page scanner.
        .testTarget(name: "LoadTestTests", dependencies: ["LoadTester", "JSON"]),
        // The store conformance suite (written against the store interface, run per backend)
        // and domain tests that drive SyncEngine without HTTP.
        // Throwaway PostgreSQL databases for the tests (PIGEONHOLE_TEST_DATABASE_URL).
        .target(name: "PostgresTestSupport", dependencies: ["PostgresBackend"], path: "Tests/PostgresTestSupport"),
        .testTarget(name: "StoreConformanceTests", dependencies: ["SyncEngine", "SQLiteBackend", "SQLiteStore", "PostgresBackend",
                                                                 "PostgresTestSupport", "JSON"]),
        .testTarget(name: "PigeonholeTests", dependencies: ["SyncAPI", "SyncEngine", "SQLiteBackend", "PostgresBackend", "HTTPServer",
                                                            "SQLiteStore", "PostgresTestSupport", "JSON"]),
    ],
    swiftLanguageModes: [.v6]
)
