import CPQ
import Glibc

/// An error from libpq or the server. `sqlState` is the five-character SQLSTATE
/// (`40001` serialization failure, `40P01` deadlock, `55P03` lock not available,
/// `23505` unique violation, ...); nil when the connection itself failed.
public struct PGError: Error, CustomStringConvertible, Sendable {
    public let sqlState: String?
    public let message: String
    /// The connection is no longer usable (closed by the server, network, timeout).
    public let connectionLost: Bool

    public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }

    /// Worth running the same work again in a new transaction: a serialization failure,
    /// a deadlock, or a lock wait that ran out (`lock_timeout`).
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" || sqlState == "55P03" }
    public var isUniqueViolation: Bool { sqlState == "23505" }
}

/// A parameter value, sent in text format (`nil` is SQL NULL).
public enum PGValue: Sendable {
    case int(Int64)
    case text(String)
    case bytea([UInt8])
    case bool(Bool)
    case double(Double)
    case int64Array([Int64])
    /// A `text[]` literal: every element quoted, `"` and `\` escaped.
    case textArray([String])
    case null

    init<T: BinaryInteger>(_ v: T?) { self = v.map { .int(Int64($0)) } ?? .null }
    init(_ v: String?) { self = v.map { .text($0) } ?? .null }

    var text: String? {
        switch self {
        case .int(let v): return String(v)
        case .text(let s): return s
        case .bool(let b): return b ? "t" : "f"
        case .double(let d): return "\(d)"
        case .bytea(let bytes):
            var s = "\\x"
            s.reserveCapacity(2 + bytes.count * 2)
            let hex = Array("0123456789abcdef".utf8)
            s += String(decoding: bytes.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
            return s
        case .int64Array(let values): return "{" + values.map(String.init).joined(separator: ",") + "}"
        case .textArray(let values):
            var out = "{"
            for (i, v) in values.enumerated() {
                if i > 0 { out += "," }
                out += "\""
                for ch in v.unicodeScalars {
                    if ch == "\"" || ch == "\\" { out += "\\" }
                    out.unicodeScalars.append(ch)
                }
                out += "\""
            }
            return out + "}"
        case .null: return nil
        }
    }
}

/// One row of a result, read by column index. Values arrive in text format.
public struct PGRow {
    let result: OpaquePointer
    let index: Int32

    public func isNull(_ column: Int) -> Bool { PQgetisnull(result, index, Int32(column)) == 1 }

    public func text(_ column: Int) -> String {
        String(cString: PQgetvalue(result, index, Int32(column)))
    }

    public func optionalText(_ column: Int) -> String? { isNull(column) ? nil : text(column) }

    public func int64(_ column: Int) -> Int64 {
        // Text digits straight from libpq's buffer: no String in between.
        guard let p = PQgetvalue(result, index, Int32(column)) else { return 0 }
        var i = 0
        var negative = false
        if p[0] == 0x2D { negative = true; i = 1 }
        var v: Int64 = 0
        while p[i] >= 0x30 && p[i] <= 0x39 {
            v = v &* 10 &+ Int64(p[i] - 0x30)
            i += 1
        }
        return negative ? -v : v
    }

    public func optionalInt64(_ column: Int) -> Int64? { isNull(column) ? nil : int64(column) }

    /// A one-dimensional `text[]` in text format (`{a,"b c","d\"e"}`; NULL and `{}` are
    /// empty; a NULL element is "").
    public func textArray(_ column: Int) -> [String] {
        guard !isNull(column), let p = PQgetvalue(result, index, Int32(column)) else { return [] }
        let n = Int(PQgetlength(result, index, Int32(column)))
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: n)
        var out: [String] = []
        var i = 1   // after "{"
        guard n >= 2 else { return [] }
        while i < n - 1 {
            var element: [UInt8] = []
            if bytes[i] == UInt8(ascii: "\"") {
                i += 1
                while i < n && bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\") { i += 1 }
                    if i < n { element.append(bytes[i]) }
                    i += 1
                }
                i += 1   // the closing quote
                out.append(String(decoding: element, as: UTF8.self))
            } else {
                while i < n - 1 && bytes[i] != UInt8(ascii: ",") {
                    element.append(bytes[i])
                    i += 1
                }
                let text = String(decoding: element, as: UTF8.self)
                out.append(text == "NULL" ? "" : text)
            }
            i += 1   // the comma
        }
        return out
    }

    /// A `bigint[]` in text format (`{1,2,3}`; NULL and `{}` are empty).
    public func int64Array(_ column: Int) -> [Int64] {
        guard !isNull(column), let p = PQgetvalue(result, index, Int32(column)) else { return [] }
        var out: [Int64] = []
        var i = 0
        var v: Int64 = 0
        var negative = false
        var inNumber = false
        while p[i] != 0 {
            let c = p[i]
            if c >= 0x30 && c <= 0x39 {
                v = v &* 10 &+ Int64(c - 0x30)
                inNumber = true
            } else if c == 0x2D {
                negative = true
            } else {
                if inNumber { out.append(negative ? -v : v) }
                v = 0
                negative = false
                inNumber = false
            }
            i += 1
        }
        return out
    }
    public func int(_ column: Int) -> Int { Int(int64(column)) }
    public func bool(_ column: Int) -> Bool { PQgetvalue(result, index, Int32(column))?[0] == 0x74 }   // 't'
}

/// One libpq connection, used by one thread at a time. Statements are prepared once
/// per connection (named by their text) and executed with text parameters.
public final class PGConnection: @unchecked Sendable {   // one thread at a time (pool, writer, listener)
    var conn: OpaquePointer?
    /// Statement text -> prepared statement name, on this session.
    var prepared: [String: String] = [:]
    /// Set by the group-commit writer around a pipelined batch (PGConnection+Pipeline.swift).
    var script: PGScript = .off
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
        if case .off = script {} else { throw PGError.unscripted }
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
