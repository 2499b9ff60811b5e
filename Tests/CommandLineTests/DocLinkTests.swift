import Foundation
import Testing

/// The docs link each other by relative paths and headings (`operations.md#retention`):
/// every such link in README.md, ARCHITECTURE.md and docs/*.md names a file that
/// exists and, with an anchor, a heading in it. Code blocks are not read.
@Suite struct DocLinkTests {
    static let root = ConfigurationDocTests.root

    /// The text outside fenced code blocks.
    static func prose(_ path: String) throws -> String {
        let text = try ConfigurationDocTests.read(path)
        var inCode = false
        return text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            if line.hasPrefix("```") { inCode.toggle(); return false }
            return !inCode
        }.joined(separator: "\n")
    }

    /// GitHub's anchors: a heading in lower case, punctuation dropped, spaces as `-`.
    static func anchors(_ path: String) throws -> Set<String> {
        Set(try prose(path).split(separator: "\n").filter { $0.hasPrefix("#") }.map { line in
            let heading = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces).lowercased()
            return String(heading.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == " " })
                .replacing(" ", with: "-")
        })
    }

    @Test func everyRelativeLinkResolves() throws {
        let docs = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        let link = try NSRegularExpression(pattern: #"\]\(([^)\s]+)\)"#)
        var checked = 0
        for path in ["README.md", "ARCHITECTURE.md"] + docs.sorted() {
            let text = try Self.prose(path)
            for match in link.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let target = String(text[Range(match.range(at: 1), in: text)!])
                if target.contains("://") || target.hasPrefix("mailto:") { continue }
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let directory = (path as NSString).deletingLastPathComponent
                let named = parts[0].isEmpty ? path : ((directory as NSString).appendingPathComponent(parts[0]) as NSString)
                    .standardizingPath
                checked += 1
                guard FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(named).path) else {
                    Issue.record("\(path): \(target): no such file")
                    continue
                }
                if parts.count == 2, named.hasSuffix(".md") {
                    #expect(try Self.anchors(named).contains(parts[1]), "\(path): \(target): no such heading in \(named)")
                }
            }
        }
        #expect(checked > 20)
    }
}
