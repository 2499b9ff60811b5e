import Glibc
import HTTPServer

/// One command-line flag with its environment variable and help text.
struct Flag {
    let name: String
    let env: String?
    let value: String?      // placeholder shown in help; nil for a boolean flag
    let help: String
}

/// Parsed flags: command-line values win over environment variables, which win over defaults.
struct ParsedFlags {
    /// The last value of each flag.
    var values: [String: String] = [:]
    /// Every value of each flag in order, for flags that may be repeated: those on the
    /// command line replace the environment's one.
    var lists: [String: [String]] = [:]
    var positional: [String] = []

    func string(_ name: String) -> String? { values[name] }

    /// All values of a repeatable flag (`--url A --url B`), or its one value.
    func strings(_ name: String) -> [String] { lists[name] ?? values[name].map { [$0] } ?? [] }

    func int(_ name: String, default def: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = values[name] else { return def }
        guard let v = Int(text), range.contains(v) else {
            throw UsageError("--\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return v
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A command that was used right but failed at run time (a refused admin token, an
/// unwritable file): one line on stderr and exit code 1, no usage text.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

enum FlagParser {
    static func parse(_ args: [String], flags: [Flag], environment: [String: String]) throws -> ParsedFlags {
        var parsed = ParsedFlags()
        for f in flags {
            if let env = f.env, let v = environment[env], !v.isEmpty {
                parsed.values[f.name] = v
                parsed.lists[f.name] = [v]
            }
        }
        var given: Set<String> = []
        func set(_ name: String, _ value: String) {
            parsed.values[name] = value
            if given.insert(name).inserted { parsed.lists[name] = [] }
            parsed.lists[name, default: []].append(value)
        }
        var i = 0
        while i < args.count {
            let arg = args[i]
            if arg == "--" {
                parsed.positional.append(contentsOf: args[(i + 1)...])
                break
            }
            if arg.hasPrefix("--") {
                var name = String(arg.dropFirst(2))
                var inline: String? = nil
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                guard let flag = flags.first(where: { $0.name == name }) else { throw UsageError("unknown flag --\(name)") }
                if flag.value == nil {
                    set(name, inline ?? "true")
                } else if let inline {
                    set(name, inline)
                } else {
                    guard i + 1 < args.count else { throw UsageError("--\(name) needs a value") }
                    i += 1
                    set(name, args[i])
                }
            } else if arg.hasPrefix("-") && arg.count > 1 {
                throw UsageError("unknown flag \(arg)")
            } else {
                parsed.positional.append(arg)
            }
            i += 1
        }
        return parsed
    }

    static func usage(_ flags: [Flag]) -> String {
        flags.map { f in
            let left = "  --\(f.name)" + (f.value.map { " \($0)" } ?? "")
            let pad = String(repeating: " ", count: max(1, 30 - left.count))
            return left + pad + f.help + (f.env.map { " [env \($0)]" } ?? "")
        }.joined(separator: "\n")
    }
}

/// The environment as a dictionary (Foundation-free).
func processEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    return env
}
