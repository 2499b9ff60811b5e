import CPQ

// A pipelined round's consecutive sends as one call (issue 19). The writer pipelines the
// first statement of every unit of a batch (GroupCommitWriter+Pipeline.swift); for a send
// that statement is the whole send, `ph_send` or `ph_send_limited`. Two or more of them
// in a row go out as ONE call of `ph_send_batch` (migrations/postgres/0012_send_batches.sql),
// which does each step of a send once for all of them, and each unit is answered its own
// row of that call's result, exactly as if its own statement had run.
//
//     units:     send  send  send  read-marker  send  send
//     pipeline:  ph_send_batch(3 sends)  ph_mark_read  ph_send_batch(2 sends)
//
// On a 2-core machine the database's CPU bounded PostgreSQL sends: each of a send's ten
// or so statements paid its executor start-up, its locks and its plan lookup, and each
// send scanned the small tables again (docs/benchmarks.md, issue 19's fifth sitting).
// A run never holds two sends with the same (sender, client_msg_id): the second must
// find the first (a duplicate), so it starts the next run.
enum SendBatches {
    static let send = "SELECT * FROM ph_send($1, $2, $3, $4, $5, $6, $7)"
    static let limitedSend = "SELECT * FROM ph_send_limited($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    static let batch = "SELECT * FROM ph_send_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"

    /// A send's parameters in `ph_send_limited`'s order (a plain send has no bucket), or nil
    /// for any other statement.
    static func parameters(_ s: PGStatement) -> [String?]? {
        if s.sql == send { return [nil, nil, nil] + s.texts }
        if s.sql == limitedSend { return s.texts }
        return nil
    }

    /// Runs `statements` in one pipeline (PGConnection.pipeline), runs of consecutive sends
    /// as one call each; returns one result per statement, in order. `patient[k]`: the
    /// unit of statement k ran before (it waits for a room another writer holds; a unit on
    /// its first attempt is answered `busy` instead, and carried).
    static func pipeline(_ statements: [PGStatement], patient: [Bool], on conn: PGConnection) throws(PGError)
        -> [PGPrefetched] {
        var sent: [PGStatement] = []
        var answers: [Range<Int>] = []   // for each statement sent, the statements it answers
        var i = 0
        while i < statements.count {
            var end = i
            var keys = Set<[String?]>()
            while end < statements.count, let p = parameters(statements[end]), keys.insert([p[4], p[6]]).inserted {
                end += 1
            }
            if end - i >= 2 {
                sent.append(batchStatement(statements[i..<end], patient: patient[i..<end]))
                answers.append(i..<end)
                i = end
            } else {
                sent.append(statements[i])
                answers.append(i..<(i + 1))
                i += 1
            }
        }
        guard sent.count < statements.count else { return try conn.pipeline(statements) }
        let results = try conn.pipeline(sent)
        var out: [PGPrefetched] = []
        out.reserveCapacity(statements.count)
        for (result, range) in zip(results, answers) {
            guard range.count > 1 else {
                out.append(PGPrefetched(statement: statements[range.lowerBound], result: result.shared))
                continue
            }
            if result.succeeded, let r = result.result, PQntuples(r) != Int32(range.count) {
                throw PGError(sqlState: "PH003", message: "ph_send_batch answered \(PQntuples(r)) rows for \(range.count) sends",
                              connectionLost: false)
            }
            for (row, index) in range.enumerated() {
                out.append(PGPrefetched(statement: statements[index], result: result.shared, row: Int32(row)))
            }
        }
        return out
    }

    /// One `ph_send_batch` call for `sends`: each parameter an array, one element per send.
    static func batchStatement(_ sends: ArraySlice<PGStatement>, patient: ArraySlice<Bool>) -> PGStatement {
        let rows = sends.map { parameters($0)! }
        let columns = (0..<10).map { c in PGValue.arrayLiteral(rows.map { $0[c] }) }
        return PGStatement(sql: batch, texts: columns + [PGValue.arrayLiteral(patient.map { $0 ? "t" : "f" })])
    }
}
