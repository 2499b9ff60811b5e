import CPQ
import Glibc

/// One libpq connection, used by one thread at a time. Statements are prepared once
/// per connection (named by their text) and executed with text parameters.
public final class PGConnection: @unchecked Sendable {   // one thread at a time (pool, writer, listener)
    var conn: OpaquePointer?
    /// Statement text -> prepared statement name, on this session.
    var prepared: [String: String] = [:]
    /// Set by the group-commit writer around a pipelined batch (PGConnection+Pipeline.swift).
    var script: PGScript = .off
    /// A scripted unit stepped off its script (sticky: a unit that catches the error
    /// cannot hide it from the writer).
    var scriptViolated = false
    /// Statements and pipelines sent since the last `takeRoundTrips()`.
    var roundTrips = 0

    func takeRoundTrips() -> Int {
        defer { roundTrips = 0 }
        return roundTrips
    }
    /// Whether the last command left the connection inside a transaction block.
    public var inTransaction: Bool { conn.map { PQtransactionStatus($0) != PQTRANS_IDLE } ?? false }
    /// Inside a transaction that a failed statement aborted (only ROLLBACK helps).
    public var transactionFailed: Bool { conn.map { PQtransactionStatus($0) == PQTRANS_INERROR } ?? false }

    /// Connects to `url` (any libpq connection URI or key=value string). The connect
    /// timeout applies unless the URL sets its own `connect_timeout`.
    public init(url: String, connectTimeoutSeconds: Int = 5, applicationName: String = "pigeonhole") throws(PGError) {
        // Before `dbname` (the URL), so a URL's own settings win. A connection to a host
        // that vanished (no reset) fails within ~10-20 s instead of the kernel's minutes:
        // TCP keepalives on an idle connection, tcp_user_timeout on unacknowledged data.
        let keys = ["connect_timeout", "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
                    "keepalives_count", "tcp_user_timeout", "dbname"]
        let values = [String(connectTimeoutSeconds), applicationName, "1", "5", "2", "3", "10000", url]
        let c = Self.withCStrings(keys) { k in
            Self.withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let c, PQstatus(c) == CONNECTION_OK else {
            let message = c.map { Self.trimmed(String(cString: PQerrorMessage($0))) } ?? "out of memory"
            if let c { PQfinish(c) }
            throw PGError(sqlState: nil, message: message, connectionLost: true)
        }
        conn = c
        // Notices (e.g. "there is no transaction in progress") are not ours to print.
        PQsetNoticeProcessor(c, { _, _ in }, nil)
    }

    deinit { close() }

    public func close() {
        if let c = conn { PQfinish(c) }
        conn = nil
        prepared = [:]
    }

    public var isOpen: Bool { conn.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// The socket, for waiting on notifications.
    public var socket: Int32 { conn.map { PQsocket($0) } ?? -1 }

    /// Runs one or more statements without parameters (DDL, BEGIN, LISTEN, ...).
    public func execute(_ sql: String) throws(PGError) {
        if case .collect(let collected) = script {
            collected.sql.append(sql)
            return
        }
        if case .off = script {} else {
            scriptViolated = true
            throw PGError.unscripted
        }
        let c = try connection()
        roundTrips += 1
        let r = PQexec(c, sql)
        defer { PQclear(r) }
        try check(r)
    }

    /// Runs a statement and calls `row` for each result row; returns the number of rows
    /// the command affected (for INSERT/UPDATE/DELETE) or returned.
    @discardableResult
    public func query(_ sql: String, _ params: [PGValue] = [], _ row: (PGRow) throws -> Void = { _ in }) throws -> Int {
        if case .off = script {} else { return try scripted(sql, params, row) }
        let c = try connection()
        let name = try preparedName(sql, parameters: params.count)
        let texts = params.map(\.text)
        roundTrips += 1
        let r = Self.withOptionalCStrings(texts) { ptrs in
            PQexecPrepared(c, name, Int32(texts.count), ptrs, nil, nil, 0)
        }
        defer { PQclear(r) }
        return try rows(of: r, row)
    }

    /// The name `sql` is prepared under on this session, preparing it the first time.
    func preparedName(_ sql: String, parameters: Int) throws(PGError) -> String {
        if let n = prepared[sql] { return n }
        let c = try connection()
        let name = "p\(prepared.count)"
        roundTrips += 1
        let r = PQprepare(c, name, sql, Int32(parameters), nil)
        defer { PQclear(r) }
        try check(r)
        prepared[sql] = name
        return name
    }

    /// Checks a statement's result, calls `row` for each row and returns the rows it
    /// affected (INSERT/UPDATE/DELETE) or returned.
    func rows(of r: OpaquePointer?, _ row: (PGRow) throws -> Void) throws -> Int {
        try check(r)
        guard let r else { return 0 }
        let n = PQntuples(r)
        for i in 0..<n { try row(PGRow(result: r, index: i)) }
        let affected = String(cString: PQcmdTuples(r))
        return Int(affected) ?? Int(n)
    }

    public func queryAll<T>(_ sql: String, _ params: [PGValue] = [], _ map: (PGRow) throws -> T) throws -> [T] {
        var out: [T] = []
        try query(sql, params) { out.append(try map($0)) }
        return out
    }

    public func queryOne<T>(_ sql: String, _ params: [PGValue] = [], _ map: (PGRow) throws -> T) throws -> T? {
        var out: T?
        try query(sql, params) { if out == nil { out = try map($0) } }
        return out
    }

    /// Reads what the server sent without blocking and returns the notifications
    /// received (channel, payload). Throws when the connection is lost.
    public func notifications() throws(PGError) -> [(channel: String, payload: String)] {
        let c = try connection()
        guard PQconsumeInput(c) == 1 else { throw lost(c) }
        var out: [(String, String)] = []
        while let n = PQnotifies(c) {
            out.append((String(cString: n.pointee.relname), String(cString: n.pointee.extra)))
            PQfreemem(n)
        }
        return out
    }

    // MARK: - Internals

    func connection() throws(PGError) -> OpaquePointer {
        guard let c = conn else { throw PGError(sqlState: nil, message: "connection closed", connectionLost: true) }
        return c
    }

    func lost(_ c: OpaquePointer) -> PGError {
        PGError(sqlState: nil, message: Self.trimmed(String(cString: PQerrorMessage(c))), connectionLost: true)
    }

    func check(_ r: OpaquePointer?) throws(PGError) {
        let c = try connection()
        guard let r else { throw lost(c) }
        switch PQresultStatus(r) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return
        default:
            let state = PQresultErrorField(r, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = Self.trimmed(String(cString: PQresultErrorMessage(r)))
            let gone = PQstatus(c) != CONNECTION_OK
            if gone { prepared = [:] }
            // A statement that failed to prepare is not in `prepared`; one that failed to
            // run stays prepared (the server keeps it until the session ends).
            throw PGError(sqlState: gone ? nil : state, message: message.isEmpty ? "query failed" : message,
                          connectionLost: gone)
        }
    }

    static func trimmed(_ s: String) -> String {
        var t = Substring(s)
        while let last = t.last, last == "\n" || last == " " { t = t.dropLast() }
        return t.split(separator: "\n").first.map(String.init) ?? String(t)
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        ptrs.append(nil)
        defer { for p in ptrs { free(p) } }
        return ptrs.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) { body($0) }
        }
    }

    static func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
        defer { for p in ptrs { free(p) } }
        if ptrs.isEmpty { return body(nil) }
        return ptrs.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) { body($0) }
        }
    }
}
