import SyncEngine

// A batch pipelined (issue 19): the first statement of every unit sent in one round
// trip instead of one each. A send, a read marker, a join, a leave are ONE statement
// (a server-side function, migrations/postgres/0008), so for them the whole batch's
// work is one round trip; behind 0.5 ms of network that is most of a batch's time.
//
// A unit is Swift code that calls the store one statement at a time and decides on
// each result, so it cannot hand over its statement in advance. It is run twice:
//   1. probed: run until its first statement, which is recorded, not run (the unit
//      stops there: `PGScriptStop.recorded`); units are pure until their first
//      statement (their clock reading is kept for the rerun: `SyncEngine.write`);
//   2. the recorded statements go out in one pipeline, in batch order;
//   3. replayed, in batch order: the unit runs again, and its first statement gets the
//      result that came back, checked to be the same statement with the same
//      parameters.
// Serial equivalence: unit k's first statement ran after units < k's first statements
// only, not after their later ones. So a unit may go on with more statements only when
// no unit after it in the pipeline has run one: the last of a round. A unit that does
// otherwise (a divergence) makes the batch roll back and run again unpipelined, and
// its first statement is remembered: as a barrier (a unit that starts so may go on:
// it ends its round, the next units go in the next round, one more round trip) or as
// a solo (a unit that starts so did not replay as probed: it runs alone, unscripted).
// So the first batches teach the writer which kinds of unit are one statement.

/// First statements this writer learned not to pipeline past (see above).
struct PipelineMemory {
    var barriers: Set<String> = []
    var solos: Set<String> = []
}

enum PipelinedOutcome {
    /// Every unit ran or failed alone: the transaction goes on to its hook and COMMIT.
    case ran(done: [GroupCommitWriter.Command], retry: [GroupCommitWriter.Command], news: [StoreNews])
    /// Statements ran and the batch cannot go on pipelined: roll back and run it again
    /// the plain way.
    case fallback
    /// This unit's first statement lost a lock wait (or a deadlock) in the pipeline:
    /// roll back, carry it to the next batch, run the others again.
    case carry(GroupCommitWriter.Command)
    /// Sends merged into one call (SendBatches.swift) lost a lock wait: roll back and run
    /// the batch again pipelined, each send its own call, so the one that waits is carried.
    case unmerge
    /// A first statement failed otherwise: roll back and run the batch isolating (a
    /// savepoint per unit), where the failing unit fails alone.
    case isolate
    case connectionLost
}

extension GroupCommitWriter {
    /// Runs `units` in the open transaction, pipelined in rounds (see the top of this file).
    static func runPipelined(_ units: [Command], conn: PGConnection, writer: PGWriter, sendBatches: Bool,
                             memory: inout PipelineMemory) -> PipelinedOutcome {
        defer { conn.script = .off }
        var firsts: [PGStatement?] = []
        firsts.reserveCapacity(units.count)
        for command in units {
            let record = PGProbeRecord()
            conn.script = .probe(record)
            writer.beginUnit()
            _ = try? command.run(writer)
            firsts.append(record.statement)
        }
        var done: [Command] = []
        var retry: [Command] = []
        var news: [StoreNews] = []
        var start = 0
        while start < units.count {
            let end = roundEnd(from: start, firsts: firsts, memory: memory)
            let round = start..<end
            start = end
            // The units of the round that asked a statement, and those statements.
            let asking = round.filter { firsts[$0] != nil }
            let statements = asking.map { firsts[$0]! }
            var prefetched: [Int: PGPrefetched] = [:]
            if statements.count >= 2 {
                conn.script = .off
                let results: [PGPrefetched]
                do {
                    results = try sendBatches
                        ? SendBatches.pipeline(statements, patient: asking.map { units[$0].attempts > 0 }, on: conn)
                        : conn.pipeline(statements)
                } catch {
                    return error.connectionLost ? .connectionLost : .fallback
                }
                if let failed = results.firstIndex(where: { !$0.succeeded }) {
                    // The server skipped everything after it. The same statement would fail
                    // the same way run alone: decide here, not after a plain rerun.
                    guard PGError.isRetryable(sqlState: results[failed].sqlState) else { return .isolate }
                    // Sends merged into one call: which of them waited is unknown.
                    return results[failed].row == nil ? .carry(units[asking[failed]]) : .unmerge
                }
                for (j, result) in zip(asking, results) { prefetched[j] = result }
            }
            let last = prefetched.keys.max() ?? -1
            for j in round {
                let command = units[j]
                writer.beginUnit()
                command.failure = nil
                if let p = prefetched[j] {
                    conn.script = .replay(p, more: j == last)
                } else {
                    conn.script = j < last ? .none : .off
                }
                conn.scriptViolated = false
                do {
                    try command.run(writer)
                    if let diverged = divergence(conn, first: firsts[j], memory: &memory) { return diverged }
                    done.append(command)
                    news.append(contentsOf: writer.unitNews)
                } catch let stop as PGScriptStop {
                    if case .diverged(let first?, let extra) = stop {
                        if extra { memory.barriers.insert(first) } else { memory.solos.insert(first) }
                    }
                    return .fallback
                } catch {
                    if (error as? PGError)?.connectionLost == true { return .connectionLost }
                    // Stepped off the script (a savepoint command, say): `divergence` sees it.
                    if let diverged = divergence(conn, first: firsts[j], memory: &memory) { return diverged }
                    // Failed before changing anything, the transaction intact: alone.
                    guard !writer.unitWrote && !conn.transactionFailed else { return .fallback }
                    if (error as? PGError)?.isRetryable ?? false {
                        retry.append(command)
                    } else {
                        command.failure = PostgresSyncStore.classify(error)
                        done.append(command)
                    }
                }
                conn.script = .off
            }
        }
        return .ran(done: done, retry: retry, news: news)
    }

    /// A unit that ended (returned or threw) off its script: it stepped off and caught the
    /// error (`scriptViolated`), or never asked for its prefetched statement, which ran
    /// anyway (the replay took another branch). Its first statement is remembered as a
    /// solo; the batch must run again unpipelined.
    private static func divergence(_ conn: PGConnection, first: PGStatement?,
                                   memory: inout PipelineMemory) -> PipelinedOutcome? {
        var unasked = false
        if case .replay = conn.script { unasked = true }
        guard conn.scriptViolated || unasked else { return nil }
        if let first { memory.solos.insert(first.sql) }
        return .fallback
    }

    /// The end of the round that starts at `start`: up to and including the first unit
    /// whose first statement is a barrier, before the first solo; a solo alone.
    private static func roundEnd(from start: Int, firsts: [PGStatement?], memory: PipelineMemory) -> Int {
        if let f = firsts[start], memory.solos.contains(f.sql) { return start + 1 }
        var end = start
        while end < firsts.count {
            guard let f = firsts[end] else { end += 1; continue }
            if memory.solos.contains(f.sql) { break }
            end += 1
            if memory.barriers.contains(f.sql) { break }
        }
        return end
    }
}
