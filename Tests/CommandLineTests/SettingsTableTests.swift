import Testing
@testable import pigeonhole

/// The settings table as the parser, `--help` and the commands read it.
@Suite struct SettingsTableTests {
    static var serve: SettingsTable { .serve }

    @Test func flagsAndVariablesAreUniqueAndNamedAfterEachOther() {
        let names = Self.serve.settings.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(Set(Self.serve.settings.map(\.environment)).count == names.count)
        for setting in Self.serve.settings where setting.name != "database" {
            #expect(setting.environment == "PIGEONHOLE_" + setting.name.uppercased().replacing("-", with: "_"))
        }
        #expect(Self.serve.settings.first { $0.name == "database" }?.environment == "PIGEONHOLE_DATABASE_URL")
    }

    /// What help and the docs show as a default is a value the flag takes, and taking
    /// it changes nothing: the shown default is the configuration's.
    @Test func everyShownDefaultParsesBackToItself() throws {
        let base = Self.serve.base
        for setting in Self.serve.settings {
            guard case .value(let shown) = setting.describe(base) else { continue }
            var config = base
            try setting.apply(shown, &config)
            #expect(setting.describe(config) == .value(shown), "\(setting.flag)")
        }
    }

    /// The defaults are the configuration structs' own, not copies.
    @Test func defaultsAreTheConfigurationStructsDefaults() throws {
        let parsed = try Self.serve.parse([], environment: [:]).configuration
        let defaults = ServeConfiguration()
        #expect(parsed.server.api.memberBurst == defaults.server.api.memberBurst)
        #expect(parsed.server.http.port == defaults.server.http.port)
        #expect(parsed.server.api.engine.hotThreshold == defaults.server.api.engine.hotThreshold)
        #expect(parsed.server.api.engine.offlineRetentionMillis == defaults.server.api.engine.offlineRetentionMillis)
        #expect(parsed.server.api.authFailureRatePerSecond == defaults.server.api.authFailureRatePerSecond)
        #expect(parsed.postgres.poolSize == defaults.postgres.poolSize)
        #expect(parsed.adminToken == nil && parsed.server.api.pushWebhook == nil && parsed.server.api.webClient)
        #expect(Self.serve.markdown().contains("| `--member-burst N` | `PIGEONHOLE_MEMBER_BURST` | `10000` |"))
    }

    @Test func aFlagWinsOverItsVariableWhichWinsOverTheDefault() throws {
        let env = ["PIGEONHOLE_MEMBER_BURST": "2000", "PIGEONHOLE_PORT": "9000", "PIGEONHOLE_NO_WEB_CLIENT": "1",
                   "PIGEONHOLE_OFFLINE_RETENTION": "12h", "PIGEONHOLE_DATABASE_URL": "postgres://u@h/db"]
        let parsed = try Self.serve.parse(["--port", "9001", "--send-rate=0", "--auth-failures-per-minute", "120"],
                                          environment: env).configuration
        #expect(parsed.server.http.port == 9001)
        #expect(parsed.server.api.memberBurst == 2000)
        #expect(parsed.server.api.sendRatePerSecond == 0)
        #expect(parsed.server.api.authFailureRatePerSecond == 2)
        #expect(parsed.server.api.engine.offlineRetentionMillis == 12 * 3_600_000)
        #expect(!parsed.server.api.webClient)
        guard case .postgres(let options) = parsed.database else { Issue.record("not PostgreSQL"); return }
        #expect(options.url == "postgres://u@h/db" && options.poolSize == ServeConfiguration().postgres.poolSize)
        // An empty variable is no value.
        #expect(try Self.serve.parse([], environment: ["PIGEONHOLE_PORT": ""]).configuration.server.http.port == 8080)
    }

    @Test func anUnknownFlagOrABadValueIsAUsageErrorNamingIt() {
        #expect { try Self.serve.parse(["--member-brust", "5"], environment: [:]) } throws: {
            ($0 as? UsageError)?.description == "unknown flag --member-brust"
        }
        #expect { try Self.serve.parse(["--member-burst", "999"], environment: [:]) } throws: {
            ($0 as? UsageError)?.description.hasPrefix("--member-burst must be an integer in 1000...") == true
        }
        #expect { try Self.serve.parse([], environment: ["PIGEONHOLE_DURABILITY": "sometimes"]) } throws: {
            ($0 as? UsageError)?.description == "--durability must be full or normal"
        }
        #expect(throws: CommandFailure.self) { try Self.serve.parse(["--database", "mysql://x"], environment: [:]) }
    }

    @Test func helpListsEverySettingWithItsDefaultAndVariable() throws {
        let help = Self.serve.usage("serve")
        for setting in Self.serve.settings {
            #expect(help.contains("  \(setting.flag)"))
            #expect(help.contains("[env \(setting.environment)]"))
        }
        #expect(help.contains("[default 10000] [env PIGEONHOLE_MEMBER_BURST]"))
        #expect(help.split(separator: "\n").allSatisfy { $0.count <= 100 || $0.contains("[env ") })
        // --help shows the help even beside a bad value.
        #expect(try Self.serve.parse(["--port", "x", "--help"], environment: [:]).help)
    }

    /// The demo takes four of the settings, with its own defaults and no variables.
    @Test func theDemoReadsNoVariables() throws {
        let demo = SettingsTable.demo
        #expect(demo.settings.map(\.name) == ["host", "port", "data-dir", "log-level"])
        let parsed = try demo.parse([], environment: ["PIGEONHOLE_PORT": "9000"]).configuration
        #expect(parsed.server.http.port == 8080 && parsed.dataDirectory.isEmpty && parsed.logLevel == .warn)
        #expect(!demo.usage("demo").contains("PIGEONHOLE_"))
        #expect(demo.usage("demo").contains("[default: a new scratch directory under /tmp]"))
    }
}
