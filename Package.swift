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

        .target(name: "HTTPServer", dependencies: ["CLinux", "CZlib", "JSON"]),
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
        .target(name: "SyncAPI", dependencies: ["HTTPServer", "SyncEngine", "JSON"],
                plugins: ["EmbedWebClientPlugin"]),
        .executableTarget(name: "pigeonhole", dependencies: ["SyncAPI", "SQLiteBackend", "PostgresBackend"]),

        // Build-time embedding of top-level migrations/*.sql into SQLiteBackend, so the
        // binary carries its schema wherever it runs and migrations/ stays the one source.
        .executableTarget(name: "MigrationEmbedder", path: "Sources/MigrationEmbedder"),
        .plugin(name: "EmbedMigrationsPlugin", capability: .buildTool(),
                dependencies: ["MigrationEmbedder"], path: "Sources/EmbedMigrationsPlugin"),
        // The same for the web client: top-level web/*.{html,css,js} into SyncAPI.
        .executableTarget(name: "WebClientEmbedder", path: "Sources/WebClientEmbedder"),
        .plugin(name: "EmbedWebClientPlugin", capability: .buildTool(),
                dependencies: ["WebClientEmbedder"], path: "Sources/EmbedWebClientPlugin"),

        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "JSON"]),
        .testTarget(name: "SQLiteStoreTests", dependencies: ["SQLiteStore", "SQLiteBackend", "SyncEngine"]),
        // The load generator's verifier and scenario plans (in the executable target).
        .testTarget(name: "LoadTestTests", dependencies: ["pigeonhole"]),
        // The store conformance suite (written against the store interface, run per backend)
        // and domain tests that drive SyncEngine without HTTP.
        // Throwaway PostgreSQL databases for the tests (PIGEONHOLE_TEST_DATABASE_URL).
        .target(name: "PostgresTestSupport", dependencies: ["PostgresBackend"], path: "Tests/PostgresTestSupport"),
        .testTarget(name: "StoreConformanceTests", dependencies: ["SyncEngine", "SQLiteBackend", "SQLiteStore", "PostgresBackend",
                                                                 "PostgresTestSupport", "JSON"]),
        .testTarget(name: "PigeonholeTests", dependencies: ["SyncAPI", "SyncEngine", "SQLiteBackend", "PostgresBackend", "HTTPServer",
                                                            "SQLiteStore", "PostgresTestSupport", "JSON"]),
        // The command line's settings table (parser, help), and the docs checked against
        // it: docs/configuration.md's table, the defaults named in prose, the docs' links.
        .testTarget(name: "CommandLineTests", dependencies: ["pigeonhole"]),
    ],
    swiftLanguageModes: [.v6]
)
