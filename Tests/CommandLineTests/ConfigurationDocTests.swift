import Foundation
import Testing
@testable import pigeonhole

/// docs/configuration.md's table is `serve`'s settings table (the flags, in order, each
/// with its variable, default and meaning), and where the docs or openapi.yaml say
/// "`--flag` ... default X" in prose, X is the table's default.
@Suite struct ConfigurationDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The cells of a Markdown table row (`\|` is a `|` inside a cell).
    static func cells(_ row: String) -> [String] {
        var cells: [String] = []
        var cell = ""
        var escaped = false
        for c in row.trimmingCharacters(in: .whitespaces).dropFirst() {
            if escaped { cell.append(c); escaped = false; continue }
            if c == "\\" { cell.append(c); escaped = true; continue }
            if c == "|" { cells.append(cell.trimmingCharacters(in: .whitespaces)); cell = "" } else { cell.append(c) }
        }
        return cells
    }

    /// The rows under the doc's header line `| flag | environment variable | default | meaning |`.
    static func documentedRows(_ doc: String) -> [String] {
        let lines = doc.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let header = lines.firstIndex(of: "| flag | environment variable | default | meaning |") else { return [] }
        return Array(lines[(header + 2)...].prefix { $0.hasPrefix("|") })
    }

    @Test func theConfigurationDocsTableIsTheSettingsTable() throws {
        let table = SettingsTable.serve
        let documented = Self.documentedRows(try Self.read("docs/configuration.md")).map(Self.cells)
        let expected = table.markdownRows().map(Self.cells)
        let columns = ["flag", "environment variable", "default", "meaning"]
        for row in expected {
            guard let doc = documented.first(where: { $0.first == row[0] }) else {
                Issue.record("docs/configuration.md lacks \(row[0])")
                continue
            }
            for (i, column) in columns.enumerated() where doc.count <= i || doc[i] != row[i] {
                Issue.record("docs/configuration.md, \(row[0]): \(column) is '\(doc.count > i ? doc[i] : "")', the settings table says '\(row[i])'")
            }
        }
        for row in documented where !expected.contains(where: { $0.first == row.first }) {
            Issue.record("docs/configuration.md lists \(row.first ?? "?"), which `serve` does not take")
        }
        #expect(documented.map(\.first) == expected.map(\.first), "the same flags in the same order")
        if documented != expected {
            Issue.record("the table as SettingsTable.serve makes it, to paste into docs/configuration.md:\n\(table.markdown())")
        }
    }

    /// "(`--send-burst`, default 40" and "`--send-rate` per second (default 20" in
    /// the docs and the contract: each such default is the table's.
    @Test func defaultsNamedInProseAreTheTablesDefaults() throws {
        let defaults = Dictionary(uniqueKeysWithValues: SettingsTable.serve.settings.compactMap { setting in
            if case .value(let v) = setting.describe(SettingsTable.serve.base) { return (setting.name, v) } else { return nil }
        })
        let docs = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        let pattern = try NSRegularExpression(
            pattern: "`--([a-z-]+)`[^`.;()]{0,40}?[(,]\\s*default:?\\s+`?([0-9](?:[0-9,]*[0-9])?[a-z]*|[^\\s`,;:)]+)(?: (KiB|MiB))?")
        var seen = 0
        for path in ["README.md", "openapi.yaml"] + docs.sorted() {
            let text = try Self.read(path)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let name = String(text[Range(match.range(at: 1), in: text)!])
                var said = String(text[Range(match.range(at: 2), in: text)!]).replacing(",", with: "")
                if let unit = Range(match.range(at: 3), in: text), let n = Int(said) {   // "1 MiB"
                    said = String(n << (text[unit] == "MiB" ? 20 : 10))
                }
                guard let value = defaults[name] else { continue }
                seen += 1
                #expect(said == value, "\(path): --\(name) is said to default to \(said), the settings table says \(value)")
            }
        }
        #expect(seen > 0, "the pattern still finds the prose it checks")
    }
}
