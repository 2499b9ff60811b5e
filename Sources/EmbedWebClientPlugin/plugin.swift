import Foundation
import PackagePlugin

/// Embeds the package's top-level `web/` files (the web client: HTML, CSS, ES modules;
/// not its `test/` folder) into the target it is applied to, as a generated
/// `EmbeddedWebClient.swift`. `web/` stays the single source; the binary serves the
/// client wherever it runs, with no files next to it.
@main
struct EmbedWebClientPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let dir = context.package.directoryURL.appending(path: "web")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let inputs = names.filter { WebClientFiles.kept($0) }.sorted().map { dir.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedWebClient.swift")
        // SwiftPM evaluates this plugin only when the package graph changes, so the file
        // list above can be stale: the embedder lists web/ itself, and `dir` is an input
        // too, so adding or removing a file reruns it. (A file added since the last
        // evaluation is tracked for edits from the next one on: touch Package.swift.)
        return [
            .buildCommand(
                displayName: "Embedding web client files into \(target.name)",
                executable: try context.tool(named: "WebClientEmbedder").url,
                arguments: [output.path, dir.path],
                inputFiles: inputs + [dir],
                outputFiles: [output]
            ),
        ]
    }
}

enum WebClientFiles {
    /// The client's files: flat, not hidden, of the types the server knows (not web/test/).
    static func kept(_ name: String) -> Bool {
        !name.hasPrefix(".") && [".html", ".css", ".js", ".mjs", ".svg"].contains { name.hasSuffix($0) }
    }
}
