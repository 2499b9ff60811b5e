// swift-tools-version:6.0
import PackageDescription

// The targets in layers; every dependency points to a layer above it in this list.
// ARCHITECTURE.md draws each arrow declared here and no other, and
// .ci/check_targets.py checks that the drawing, these declarations and the imports agree.
//
//   C libraries   CLinux, CZlib, CSQLite, CPQ
//   base          JSON, Logging
//   transport     Sockets -> HTTPServer -> WebSocket -> HTTPClient
//   domain        SyncEngine (the domain and the store interface)
//   storage       SQLiteStore -> SQLiteBackend; PostgresBackend
//   API           SyncAPI (HTTP <-> SyncEngine)
//   load          LoadTester (a client of the API over HTTP, nothing more)
//   executable    pigeonhole (picks and opens a backend, wires the rest, runs commands)
//
// HTTPServer knows nothing of messages or WebSocket frames; SyncEngine knows nothing of
// HTTP or SQL; LoadTester knows nothing of the server it loads but its HTTP API.
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

        // A strict JSON value type, parser and writer (no Foundation JSON on the hot path).
        .target(name: "JSON"),
        // Structured log lines on stderr.
        .target(name: "Logging"),

        // The socket and event-loop layer: non-blocking sockets, epoll loops, timers.
        .target(name: "Sockets", dependencies: ["CLinux"]),
        // HTTP/1.1 serving: parsing, routing, responses with gzip, bounded connections,
        // and the hook an upgraded connection is handed to (`UpgradeHandler`).
        .target(name: "HTTPServer", dependencies: ["Sockets", "Logging", "CZlib", "JSON"]),
        // WebSocket (RFC 6455): frames, the handshake, and the server's sessions, which
        // take over upgraded connections through HTTPServer's hook.
        .target(name: "WebSocket", dependencies: ["HTTPServer", "Sockets"]),
        // HTTP/1.1 clients: a blocking one per request (the push webhook), a blocking
        // keep-alive one (demo, load-test setup) and a non-blocking one on the event
        // loops that can open a WebSocket (the load generator).
        .target(name: "HTTPClient", dependencies: ["WebSocket", "Sockets", "JSON"]),

        // The domain and the store interface.
        .target(name: "SyncEngine", dependencies: ["JSON", "CLinux"]),

        .target(name: "SQLiteStore", dependencies: ["CSQLite"]),
        // The embedded SQLite backend of the store interface: all SQL lives here.
        .target(name: "SQLiteBackend", dependencies: ["SyncEngine", "SQLiteStore", "JSON"],
                plugins: ["EmbedMigrationsPlugin"]),
        // The PostgreSQL backend (several nodes over one database): all its SQL lives here.
        .target(name: "PostgresBackend", dependencies: ["SyncEngine", "CPQ", "JSON"],
                plugins: ["EmbedMigrationsPlugin"]),

        .target(name: "SyncAPI", dependencies: ["HTTPServer", "WebSocket", "HTTPClient", "Sockets", "Logging",
                                                "SyncEngine", "JSON"],
                plugins: ["EmbedWebClientPlugin"]),

        // The load generator behind `pigeonhole loadtest`, with its exactly-once verifier.
        .target(name: "LoadTester", dependencies: ["HTTPClient", "Sockets", "JSON"]),

        .executableTarget(name: "pigeonhole", dependencies: ["SyncAPI", "SQLiteBackend", "PostgresBackend", "LoadTester",
                                                             "HTTPServer", "HTTPClient", "Logging", "SyncEngine",
                                                             "SQLiteStore", "JSON"]),

        // Build-time embedding of top-level migrations/*.sql into SQLiteBackend, so the
        // binary carries its schema wherever it runs and migrations/ stays the one source.
        .executableTarget(name: "MigrationEmbedder", path: "Sources/MigrationEmbedder"),
        .plugin(name: "EmbedMigrationsPlugin", capability: .buildTool(),
                dependencies: ["MigrationEmbedder"], path: "Sources/EmbedMigrationsPlugin"),
        // The same for the web client: top-level web/*.{html,css,js} into SyncAPI.
        .executableTarget(name: "WebClientEmbedder", path: "Sources/WebClientEmbedder"),
        .plugin(name: "EmbedWebClientPlugin", capability: .buildTool(),
                dependencies: ["WebClientEmbedder"], path: "Sources/EmbedWebClientPlugin"),

        // Seeded generators and mutations for the hostile-input tests (no dependencies).
        .target(name: "MutationSupport", path: "Tests/MutationSupport"),
        // The JSON parser and writer alone: byte tables, round trips, hostile input.
        .testTarget(name: "JSONTests", dependencies: ["JSON", "MutationSupport"]),
        // The domain's pieces that need no store and no socket: cursors and tokens,
        // the Notifier, the principal cache, validation, timestamps, the stream merge.
        .testTarget(name: "SyncEngineTests", dependencies: ["SyncEngine", "MutationSupport", "JSON"]),
        .testTarget(name: "SocketsTests", dependencies: ["Sockets"]),
        // The server end to end on real sockets (with its WebSocket upgrade, and the
        // event-loop client against it), the parsers, and the fuzz-corpus regressions.
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "WebSocket", "HTTPClient", "Sockets", "JSON"]),
        .testTarget(name: "WebSocketTests", dependencies: ["WebSocket"]),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient"]),
        .testTarget(name: "SQLiteStoreTests", dependencies: ["SQLiteStore", "SQLiteBackend", "SyncEngine"]),
        // The load generator's verifier, scenario plans and sync-page scanner.
        .testTarget(name: "LoadTestTests", dependencies: ["LoadTester", "JSON"]),
        // Throwaway PostgreSQL databases for the tests (PIGEONHOLE_TEST_DATABASE_URL).
        .target(name: "PostgresTestSupport", dependencies: ["PostgresBackend"], path: "Tests/PostgresTestSupport"),
        // The store conformance suite (written against the store interface, run per backend)
        // and domain tests that drive SyncEngine without HTTP.
        .testTarget(name: "StoreConformanceTests", dependencies: ["SyncEngine", "SQLiteBackend", "PostgresBackend",
                                                                 "PostgresTestSupport", "JSON"]),
        .testTarget(name: "PigeonholeTests", dependencies: ["SyncAPI", "SyncEngine", "SQLiteBackend", "PostgresBackend", "HTTPServer",
                                                            "WebSocket", "Logging", "SQLiteStore", "PostgresTestSupport", "JSON",
                                                            "MutationSupport"]),
        // The command line's settings table (parser, help), and the docs checked against
        // it: docs/configuration.md's table, the defaults named in prose, the docs' links.
        .testTarget(name: "CommandLineTests", dependencies: ["pigeonhole"]),
    ],
    swiftLanguageModes: [.v6]
)
