import Foundation

/// What the tests read from the repository's openapi.yaml (the contract), by a line
/// scan of its fixed layout (two-space indentation; no YAML library in the package):
/// the operations, the `Error` schema's code enum and the status of each code in the
/// "Errors" table.
struct OpenAPIDocument {
    struct Operation: Hashable, CustomStringConvertible {
        let method: String
        let path: String
        var description: String { "\(method) \(path)" }
    }

    let lines: [String]

    static func load() throws -> OpenAPIDocument {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        return OpenAPIDocument(lines: text.components(separatedBy: "\n"))
    }

    /// Every `paths:` operation, methods upper-case.
    var operations: Set<Operation> {
        var out: Set<Operation> = []
        var path: String?
        for line in lines {
            if line.hasPrefix("components:") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "patch", "delete"].contains(method) {
                    out.insert(Operation(method: method.uppercased(), path: path))
                }
            }
        }
        return out
    }

    /// `components/schemas/Error`'s `error.code` enum.
    var errorCodes: Set<String> {
        guard let schema = lines.firstIndex(of: "    Error:"),
              let start = lines[schema...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "enum:" })
        else { return [] }
        var out: Set<String> = []
        for line in lines[(start + 1)...] {
            let item = line.trimmingCharacters(in: .whitespaces)
            guard item.hasPrefix("- ") else { break }
            out.insert(String(item.dropFirst(2)))
        }
        return out
    }

    /// The "Errors" table of the description: each code (backquoted in the second
    /// column) with its status.
    var errorTable: [String: Int] {
        var out: [String: Int] = [:]
        for line in lines where line.hasPrefix("    | ") {
            let cells = line.trimmingCharacters(in: .whitespaces).split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, let status = Int(cells[0]) else { continue }
            for (i, part) in cells[1].split(separator: "`", omittingEmptySubsequences: false).enumerated() where i % 2 == 1 {
                out[String(part)] = status
            }
        }
        return out
    }
}
