import Foundation
import PackagePlugin

/// Embeds the package's top-level `migrations/<engine>/*.sql` into the target it is
/// applied to, as a generated `EmbeddedMigrations.swift`: `migrations/sqlite/` into
/// SQLiteBackend, `migrations/postgres/` into PostgresBackend. `migrations/` stays the
/// single source; the binary carries its schema wherever it runs.
@main
struct EmbedMigrationsPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let engine = target.name == "PostgresBackend" ? "postgres" : "sqlite"
        let dir = context.package.directoryURL.appending(path: "migrations").appending(path: engine)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let inputs = names.filter { $0.hasSuffix(".sql") }.sorted().map { dir.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) migrations into \(target.name)",
                executable: try context.tool(named: "MigrationEmbedder").url,
                arguments: [output.path] + inputs.map(\.path),
                inputFiles: inputs + [dir],
                outputFiles: [output]
            ),
        ]
    }
}
