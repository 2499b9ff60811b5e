import CPQ
import Glibc

// libpq's pipeline mode (https://www.postgresql.org/docs/15/libpq-pipeline-mode.html):
// several statements sent at once, one Sync at the end, their results read back in
// order: one round trip for all of them. The group-commit writer uses it to run the
// first statement of every unit of a batch together (GroupCommitWriter+Pipeline.swift);
// `PGScript` is how a unit's code, which calls `query` one statement at a time, is run
// against it.

/// A statement as sent: its text and its parameters in text format.
struct PGStatement: Equatable {
    let sql: String
    let texts: [String?]
}

/// A result read back from a pipeline, freed when the last statement answered from it goes.
final class PGResult {
    let pointer: OpaquePointer?

    init(_ pointer: OpaquePointer?) { self.pointer = pointer }

    deinit { PQclear(pointer) }
}

/// A statement's result, read back from a pipeline: the whole result, or one row of it
/// when several statements went out as one (SendBatches.swift).
final class PGPrefetched {
    let statement: PGStatement
    let shared: PGResult
    /// This statement's row of a shared result (nil: every row is its own).
    let row: Int32?

    init(statement: PGStatement, result: PGResult, row: Int32? = nil) {
        self.statement = statement
        self.shared = result
        self.row = row
    }

    var result: OpaquePointer? { shared.pointer }

    /// The SQLSTATE of a statement that failed (nil if it succeeded or was skipped).
    var sqlState: String? {
        guard let result, PQresultStatus(result) == PGRES_FATAL_ERROR else { return nil }
        return PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
    }

    /// Succeeded (an error, or a statement skipped after another's error, did not).
    var succeeded: Bool {
        guard let result else { return false }
        let s = PQresultStatus(result)
        return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK
    }
}

/// Where the probe of a unit puts its first statement.
final class PGProbeRecord {
    var statement: PGStatement?
}

/// What `PGConnection.query` does with the statements of the unit being run.
enum PGScript {
    /// Each statement runs at once, one round trip each.
    case off
    /// The first statement is recorded and not run; `PGScriptStop.recorded` is thrown
    /// (the unit stops there; it runs again, for real, later).
    case probe(PGProbeRecord)
    /// The unit's first statement already ran in a pipeline: it must be the same
    /// statement, and gets that result. Then, if `more`, further statements run at once;
    /// if not, a further statement is a divergence (units after it in the pipeline
    /// already ran theirs).
    case replay(PGPrefetched, more: Bool)
    /// Past the prefetched statement with no further statements allowed.
    case noMore(firstSQL: String)
    /// The unit ran no statement when probed: one now is a divergence.
    case none
    /// Each statement (and command) is written down as plain SQL, its parameters inlined
    /// as literals, and not run; it answers no rows. For the batch hook, whose statements
    /// only write: they go out with the COMMIT (GroupCommitWriter+Batch.swift).
    case collect(PGCollected)
}

/// Statements written down by `PGScript.collect`, in order.
final class PGCollected {
    var sql: [String] = []
}

/// Why a scripted unit stopped.
enum PGScriptStop: Error {
    case recorded
    /// The unit did not do what its probe said (another first statement or parameters,
    /// a statement where it had none: `firstSQL` nil) or went on past its first
    /// statement where that was not allowed (`extra`).
    case diverged(firstSQL: String?, extra: Bool)
}

extension PGError {
    /// `execute` (a simple-protocol command: savepoints) while a unit is scripted.
    static let unscripted = PGError(sqlState: "PH001", message: "a command outside the pipelined batch's script",
                                    connectionLost: false)
}

extension PGConnection {
    func scripted(_ sql: String, _ params: [PGValue], _ row: (PGRow) throws -> Void) throws -> Int {
        switch script {
        case .off:
            return try query(sql, params, row)
        case .probe(let record):
            if record.statement == nil { record.statement = PGStatement(sql: sql, texts: params.map(\.text)) }
            throw PGScriptStop.recorded
        case .replay(let prefetched, let more):
            guard prefetched.statement.sql == sql, prefetched.statement.texts == params.map(\.text) else {
                scriptViolated = true
                throw PGScriptStop.diverged(firstSQL: prefetched.statement.sql, extra: false)
            }
            script = more ? .off : .noMore(firstSQL: sql)
            if let only = prefetched.row {
                try check(prefetched.result)
                try row(PGRow(result: prefetched.result!, index: only))
                return 1
            }
            return try rows(of: prefetched.result, row)
        case .noMore(let first):
            scriptViolated = true
            throw PGScriptStop.diverged(firstSQL: first, extra: true)
        case .none:
            scriptViolated = true
            throw PGScriptStop.diverged(firstSQL: nil, extra: false)
        case .collect(let collected):
            collected.sql.append(try inlined(sql, params))
            return 0
        }
    }

    /// `sql` with its parameters `$1`... as literals (libpq's PQescapeLiteral: quoting and
    /// backslashes as this session's settings need them; NULL unquoted), for a statement
    /// sent in a plain multi-statement query.
    func inlined(_ sql: String, _ params: [PGValue]) throws(PGError) -> String {
        let c = try connection()
        var literals: [String] = []
        for value in params {
            guard let text = value.text else {
                literals.append("NULL")
                continue
            }
            guard let escaped = PQescapeLiteral(c, text, text.utf8.count) else { throw lost(c) }
            literals.append(String(cString: escaped))
            PQfreemem(escaped)
        }
        // One pass over the statement's own text (never over a literal put in).
        var out = ""
        let chars = Array(sql.unicodeScalars)
        var i = 0
        while i < chars.count {
            guard chars[i] == "$", i + 1 < chars.count, ("0"..."9").contains(chars[i + 1]) else {
                out.unicodeScalars.append(chars[i])
                i += 1
                continue
            }
            var n = 0
            i += 1
            while i < chars.count, ("0"..."9").contains(chars[i]) {
                n = n * 10 + Int(chars[i].value - 48)
                i += 1
            }
            out += n >= 1 && n <= literals.count ? literals[n - 1] : "$\(n)"
        }
        return out
    }

    /// Runs `statements` in one round trip (pipeline mode, one Sync at the end) and
    /// returns each one's result in order. A failed statement makes the server skip
    /// those after it (their results do not succeed), as it would abort the transaction.
    /// Statements not yet prepared on this session are prepared first (a round trip
    /// each, once per session).
    func pipeline(_ statements: [PGStatement]) throws(PGError) -> [PGPrefetched] {
        let c = try connection()
        var names: [String] = []
        names.reserveCapacity(statements.count)
        for s in statements { names.append(try preparedName(s.sql, parameters: s.texts.count)) }
        guard PQenterPipelineMode(c) == 1 else { throw lost(c) }
        roundTrips += 1
        // Non-blocking while sending: a long pipeline must not block on a full socket
        // while the server blocks on sending us results (the manual's deadlock).
        PQsetnonblocking(c, 1)
        var sent = true
        for (s, name) in zip(statements, names) where sent {
            sent = Self.withOptionalCStrings(s.texts) { ptrs in
                PQsendQueryPrepared(c, name, Int32(s.texts.count), ptrs, nil, nil, 0)
            } == 1
        }
        if sent { sent = PQpipelineSync(c) == 1 }
        while sent {
            let f = PQflush(c)
            if f == 0 { break }
            if f < 0 { sent = false; break }
            var p = pollfd(fd: PQsocket(c), events: Int16(POLLIN | POLLOUT), revents: 0)
            _ = poll(&p, 1, -1)
            if p.revents & Int16(POLLIN) != 0 && PQconsumeInput(c) != 1 { sent = false }
        }
        PQsetnonblocking(c, 0)
        guard sent else {
            let error = lost(c)
            close()
            throw error
        }
        var out: [PGPrefetched] = []
        out.reserveCapacity(statements.count)
        for s in statements {
            var first: OpaquePointer?
            while let r = PQgetResult(c) {
                if first == nil { first = r } else { PQclear(r) }
            }
            out.append(PGPrefetched(statement: s, result: PGResult(first)))
        }
        var synced = false
        while let r = PQgetResult(c) {
            synced = PQresultStatus(r) == PGRES_PIPELINE_SYNC
            PQclear(r)
            if synced { break }
        }
        guard synced, PQexitPipelineMode(c) == 1 else {
            let error = lost(c)
            close()
            throw error
        }
        return out
    }
}
