import SQLiteBackend
import PostgresBackend
import Glibc
import HTTPServer
import SyncAPI
import SyncEngine

// Entry point: parse the command, run it, map failures to exit codes
// (2 = usage error, 1 = the command failed).
signal(SIGPIPE, SIG_IGN)

func out(_ s: String) { print(s); fflush(nil) }
func err(_ s: String) {
    fflush(nil)
    let bytes = Array((s + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func describe(_ error: any Error) -> String {
    if let e = error as? SyncError {
        switch e {
        case .userExists(let n): return "a user named \(n) already exists"
        case .userNotFound(let n): return "no user named \(n)"
        case .deviceNotFound: return "no such device"
        case .invalid(let field, let reason): return "\(field): \(reason)"
        default: return "\(e)"
        }
    }
    return "\(error)"
}

func run(_ args: [String]) -> Int32 {
    let env = processEnvironment()
    guard let command = args.first else {
        err(mainUsage)
        return 2
    }
    let rest = Array(args.dropFirst())
    do {
        switch command {
        case "serve":
            let parsed = try SettingsTable.serve.parse(rest, environment: env)
            if parsed.help {
                out(SettingsTable.serve.usage("serve"))
                return 0
            }
            guard parsed.positional.isEmpty else { throw UsageError("serve takes no arguments") }
            try serve(parsed.configuration)
        case "migrate":
            let parsed = try SettingsTable.admin.parse(rest, environment: env)
            if parsed.help { out(SettingsTable.admin.usage("migrate")); return 0 }
            try withEngine(parsed.configuration) { engine, name in
                let version = engine.store is PostgresSyncStore ? PostgresMigrations.all.last?.version ?? 0
                                                                : Schema.migrations.last?.version ?? 0
                out("database \(name) is at schema version \(version)")
            }
        case "user":
            let parsed = try SettingsTable.admin.parse(rest, environment: env)
            let p = parsed.positional
            guard p.count == 2, p[0] == "add" else { throw UsageError("usage: pigeonhole user add NAME") }
            let name = p[1]
            let user = try withEngine(parsed.configuration) { engine, _ in try runWrite(engine) { try Accounts.createUser($0, name: name) } }
            out("created user \(user.name) (id \(user.id))")
        case "device":
            let parsed = try SettingsTable.admin.parse(rest, environment: env)
            let (p, config) = (parsed.positional, parsed.configuration)
            switch (p.first, p.count) {
            case ("add", 3):
                let (user, name) = (p[1], p[2])
                let (device, token) = try withEngine(config) { engine, _ in
                    try runWrite(engine) { try Accounts.createDevice($0, userName: user, deviceName: name) }
                }
                err("created device \(device.id) '\(device.name)' for \(user); its token (shown once):")
                out(token)
            case ("list", 2):
                let devices = try withEngine(config) { engine, _ in
                    let reader = try engine.store.openReader()
                    defer { reader.close() }
                    return try engine.read(reader) { try Accounts.devices($0.store, userName: p[1]) }
                }
                out("ID\tNAME\tCREATED\tLAST SEEN\tREVOKED")
                for d in devices {
                    out("\(d.id)\t\(d.name)\t\(Timestamp.rfc3339(d.createdAt))\t\(d.lastSeenAt.map(Timestamp.rfc3339) ?? "-")\t\(d.revoked ? "yes" : "no")")
                }
            case ("revoke", 2):
                guard let id = Int64(p[1]) else { throw UsageError("device id must be a number") }
                try withEngine(config) { engine, _ in try runWrite(engine) { try Accounts.revokeDevice($0, id: DeviceID(id)) } }
                out("revoked device \(id)")
            default:
                throw UsageError("usage: pigeonhole device add USER NAME | device list USER | device revoke ID")
            }
        case "demo":
            let parsed = try SettingsTable.demo.parse(rest, environment: env)
            if parsed.help { out(SettingsTable.demo.usage("demo")); return 0 }
            guard parsed.positional.isEmpty else { throw UsageError("demo takes no arguments") }
            try demo(parsed.configuration)
        case "loadtest":
            let flags = try FlagParser.parse(rest, flags: loadtestFlags, environment: env)
            if flags.string("help") != nil { out("usage: pigeonhole loadtest [flags]\n\n" + FlagParser.usage(loadtestFlags)); return 0 }
            try loadtest(flags)
        case "help", "--help", "-h":
            if rest.first == "serve" { out(SettingsTable.serve.usage("serve")) } else { out(mainUsage) }
        default:
            throw UsageError("unknown command '\(command)'")
        }
        return 0
    } catch let e as UsageError {
        err("pigeonhole: \(e.description)\n")
        err(command == "serve" ? SettingsTable.serve.usage("serve") : mainUsage)
        return 2
    } catch let e as CommandFailure {
        err("pigeonhole: \(e.description)")
        return 1
    } catch {
        err("pigeonhole: \(describe(error))")
        return 1
    }
}

exit(run(Array(CommandLine.arguments.dropFirst())))
