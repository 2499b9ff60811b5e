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
        let kept = [".html", ".css", ".js", ".mjs", ".svg", ".txt"]
        let inputs = names.filter { n in !n.hasPrefix(".") && kept.contains { n.hasSuffix($0) } }
            .sorted().map { dir.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedWebClient.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) web client files into \(target.name)",
                executable: try context.tool(named: "WebClientEmbedder").url,
                arguments: [output.path] + inputs.map(\.path),
                inputFiles: inputs + [dir],
                outputFiles: [output]
            ),
        ]
    }
}
