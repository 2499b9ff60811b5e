/// One setting of the command line: its flag, its environment variable, its help, its
/// default (read from the configuration it writes, never written here) and where its
/// value goes. `SettingsTable` lists them; the parser, `--help` and the table in
/// docs/configuration.md all come from that list.
struct Setting {
    /// A setting's default as help and the docs show it.
    enum Default: Equatable {
        /// A value one could give the flag (`8080`, `7d`): code in the docs.
        case value(String)
        /// What happens without the flag (`one per core`): prose in the docs.
        case text(String)
    }

    /// The flag without its dashes (`member-burst`).
    let name: String
    /// The variable read when the flag is absent: `PIGEONHOLE_` and the name in capitals.
    let environment: String
    /// What the value looks like in help (`N`, `SECONDS`); nil for a switch.
    let placeholder: String?
    let help: String
    /// The default, read from a configuration holding the defaults.
    let describe: (ServeConfiguration) -> Default
    /// Parses a value and writes it into the configuration (a bad one throws `UsageError`).
    let apply: (String, inout ServeConfiguration) throws -> Void

    init(_ name: String, environment: String? = nil, placeholder: String?, help: String,
         describe: @escaping (ServeConfiguration) -> Default,
         apply: @escaping (String, inout ServeConfiguration) throws -> Void) {
        self.name = name
        self.environment = environment ?? "PIGEONHOLE_" + name.uppercased().replacing("-", with: "_")
        self.placeholder = placeholder
        self.help = help
        self.describe = describe
        self.apply = apply
    }

    var flag: String { "--" + name }

    /// The same setting, read from another variable (`--database`: `PIGEONHOLE_DATABASE_URL`).
    func reading(_ variable: String) -> Setting {
        Setting(name, environment: variable, placeholder: placeholder, help: help, describe: describe, apply: apply)
    }

    /// The same setting, its default described in words (`demo`'s scratch directory).
    func documenting(default text: String) -> Setting {
        Setting(name, environment: environment, placeholder: placeholder, help: help,
                describe: { _ in .text(text) }, apply: apply)
    }
}

extension Setting {
    /// A whole number in `range`, kept in the configuration through `get` and `set`.
    static func integer(_ name: String, range: ClosedRange<Int>, placeholder: String = "N", help: String,
                        get: @escaping (ServeConfiguration) -> Int,
                        set: @escaping (inout ServeConfiguration, Int) -> Void) -> Setting {
        Setting(name, placeholder: placeholder, help: help, describe: { .value(String(get($0))) }) { text, config in
            guard let v = Int(text), range.contains(v) else {
                throw UsageError("--\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            set(&config, v)
        }
    }

    static func integer<T: BinaryInteger>(_ name: String, _ key: WritableKeyPath<ServeConfiguration, T>,
                                          range: ClosedRange<Int>, placeholder: String = "N", help: String) -> Setting {
        integer(name, range: range, placeholder: placeholder, help: help, get: { Int($0[keyPath: key]) }, set: { $0[keyPath: key] = T($1) })
    }

    /// A whole number of something per second (or a burst), kept as a `Double`.
    static func rate(_ name: String, _ key: WritableKeyPath<ServeConfiguration, Double>,
                     range: ClosedRange<Int>, help: String) -> Setting {
        integer(name, range: range, help: help, get: { Int($0[keyPath: key]) }, set: { $0[keyPath: key] = Double($1) })
    }

    /// Whole seconds, kept as a `Duration`.
    static func seconds(_ name: String, _ key: WritableKeyPath<ServeConfiguration, Duration>,
                        range: ClosedRange<Int>, help: String) -> Setting {
        integer(name, range: range, placeholder: "SECONDS", help: help,
                get: { Int($0[keyPath: key].components.seconds) }, set: { $0[keyPath: key] = .seconds($1) })
    }

    /// `7d`, `12h`, `30m`, `45s`, `500ms` or `0`, kept in milliseconds.
    static func duration(_ name: String, _ key: WritableKeyPath<ServeConfiguration, Int64>, help: String) -> Setting {
        Setting(name, placeholder: "DURATION", help: help, describe: { .value(durationText($0[keyPath: key])) }) { text, config in
            config[keyPath: key] = try durationMillis(text, flag: name)
        }
    }

    /// Text, checked by `check` (which throws what a bad value means).
    static func text(_ name: String, _ key: WritableKeyPath<ServeConfiguration, String>, placeholder: String,
                     help: String, check: @escaping (String) throws -> Void = { _ in }) -> Setting {
        Setting(name, placeholder: placeholder, help: help, describe: { .value($0[keyPath: key]) }) { text, config in
            try check(text)
            config[keyPath: key] = text
        }
    }

    /// One of `choices` (the names a user types, mapped to values).
    static func choice<T: Equatable>(_ name: String, _ key: WritableKeyPath<ServeConfiguration, T>,
                                     _ choices: KeyValuePairs<String, T>, placeholder: String, help: String) -> Setting {
        let names = choices.map(\.key)
        let list = names.dropLast().joined(separator: ", ") + " or " + names.last!
        return Setting(name, placeholder: placeholder, help: help,
                       describe: { c in .value(choices.first { $0.value == c[keyPath: key] }?.key ?? "?") }) { text, config in
            guard let v = choices.first(where: { $0.key == text })?.value else { throw UsageError("--\(name) must be \(list)") }
            config[keyPath: key] = v
        }
    }

    /// A switch: given (or its variable set to anything but `0` or `false`), it writes
    /// `on` into the configuration.
    static func toggle<T>(_ name: String, _ key: WritableKeyPath<ServeConfiguration, T>, on: T, help: String) -> Setting {
        Setting(name, placeholder: nil, help: help, describe: { _ in .text("off") }) { text, config in
            if text != "0" && text != "false" { config[keyPath: key] = on }
        }
    }

    /// Milliseconds in the largest unit that divides them (`604800000` is `7d`).
    static func durationText(_ millis: Int64) -> String {
        if millis == 0 { return "0" }
        for (suffix, scale) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where millis % scale == 0 {
            return "\(millis / scale)\(suffix)"
        }
        return "\(millis)ms"
    }
}
