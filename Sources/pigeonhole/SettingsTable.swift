/// The settings a command takes (`serve`'s are the table in docs/configuration.md), and
/// everything made from them: the parser, `--help`, and the docs' table. A flag on the
/// command line wins over its environment variable, which wins over the default.
struct SettingsTable {
    let settings: [Setting]
    /// The configuration before any setting is applied: its values are the defaults shown.
    let base: ServeConfiguration
    /// Whether the settings' environment variables are read (and shown in help).
    let readsEnvironment: Bool

    init(_ settings: [Setting], base: ServeConfiguration = ServeConfiguration(), readsEnvironment: Bool = true) {
        self.settings = settings
        self.base = base
        self.readsEnvironment = readsEnvironment
    }

    /// The command line, read.
    struct Parsed {
        var configuration: ServeConfiguration
        /// The arguments that are not flags (`user add alice`: `add`, `alice`).
        var positional: [String]
        /// `--help` was given: the settings were not applied (a bad value does not hide the help).
        var help: Bool
    }

    private static let help = Flag(name: "help", env: nil, value: nil, help: "show this help")

    /// Reads `args` and `environment` into a configuration: each setting given is
    /// applied in the table's order, which checks it. An unknown flag or a bad value is
    /// a `UsageError`; a `--database` that is no database URL a `CommandFailure`.
    func parse(_ args: [String], environment: [String: String]) throws -> Parsed {
        let given = try FlagParser.parse(args, flags: flags, environment: readsEnvironment ? environment : [:])
        var parsed = Parsed(configuration: base, positional: given.positional, help: given.string(Self.help.name) != nil)
        if parsed.help { return parsed }
        for setting in settings {
            if let value = given.string(setting.name) { try setting.apply(value, &parsed.configuration) }
        }
        return parsed
    }

    /// What the lexer needs to know of each setting (placeholder: takes a value).
    private var flags: [Flag] {
        settings.map { Flag(name: $0.name, env: readsEnvironment ? $0.environment : nil, value: $0.placeholder, help: $0.help) }
            + [Self.help]
    }

    /// `pigeonhole COMMAND --help`: one line per setting, with its default and variable.
    func usage(_ command: String) -> String {
        var lines = ["usage: pigeonhole \(command) [flags]", ""]
        if readsEnvironment {
            lines += ["Each flag may be given by its environment variable instead; the flag wins.", ""]
        }
        let indent = String(repeating: " ", count: Self.column)
        for setting in settings {
            let left = "  " + setting.flag + (setting.placeholder.map { " " + $0 } ?? "")
            lines += Self.wrapped(left, setting.help)
            var notes: [String] = []
            switch setting.describe(base) {
            case .value(let v): notes.append("default \(v)")
            case .text(let t): notes.append("default: \(t)")
            }
            if readsEnvironment { notes.append("env \(setting.environment)") }
            lines.append(indent + notes.map { "[\($0)]" }.joined(separator: " "))
        }
        lines += Self.wrapped("  --help", Self.help.help)
        return lines.joined(separator: "\n")
    }

    /// `left` padded to a column, then `text` in lines of at most 100 characters.
    private static let column = 35

    private static func wrapped(_ left: String, _ text: String) -> [String] {
        var lines = [left + String(repeating: " ", count: max(1, column - left.count))]
        for word in text.split(separator: " ") {
            if lines[lines.count - 1].count + word.count + 1 > 100 && lines[lines.count - 1].count > column {
                lines.append(String(repeating: " ", count: column))
            }
            let last = lines[lines.count - 1]
            lines[lines.count - 1] = last + (last.last == " " ? "" : " ") + word
        }
        return lines
    }

    /// The table of docs/configuration.md, in Markdown (a test checks the doc holds it).
    func markdown() -> String {
        (["| flag | environment variable | default | meaning |", "|---|---|---|---|"] + markdownRows())
            .joined(separator: "\n")
    }

    /// One row per setting: `| `--flag N` | `VARIABLE` | default | help |`.
    func markdownRows() -> [String] {
        settings.map { setting in
            let flag = setting.flag + (setting.placeholder.map { " " + $0 } ?? "")
            let shown: String
            switch setting.describe(base) {
            case .value(let v): shown = "`\(v)`"
            case .text(let t): shown = t
            }
            let cells = ["`\(flag)`", readsEnvironment ? "`\(setting.environment)`" : "", shown, setting.help]
            return "| " + cells.map { $0.replacing("|", with: "\\|") }.joined(separator: " | ") + " |"
        }
    }
}
