import Dispatch
import Glibc
import Synchronization
import SyncEngine

// One batch of the writer (see `GroupCommitWriter`): BEGIN, the units (pipelined first:
// GroupCommitWriter+Pipeline.swift), then the batch hook, the notify and COMMIT in one round trip.
extension GroupCommitWriter {
    static let notifySQL = """
        SELECT set_config('lock_timeout', '0', true), pg_notify($1, p)
        FROM unnest(string_to_array($2, E'\\n')) AS p
        """

    /// Runs one transaction over `batch`; returns the units to run again in the next one.
    ///
    /// Optimistic first: units without savepoints (see `PGWriter`). A unit that fails
    /// without having changed rows, its transaction intact, fails alone. One that fails
    /// after changing rows, or whose statement aborted the transaction, makes the batch
    /// roll back and run again isolating, a savepoint per unit; if it lost a lock wait or
    /// a deadlock it goes to the next batch instead (the lock is likely still taken).
    func runBatch(_ batch: [Command]) -> [Command] {
        let started = MonotonicNanos.now()
        guard let conn = begin(batch) else { return [] }
        let hooks = self.hooks.withLock { $0 }
        let writer = PGWriter(conn)
        var units = batch
        /// Lost a lock wait while optimistic: counted, for the next batch.
        var carried: [Command] = []
        var isolating = false
        var done: [Command] = []
        var again: [Command] = []
        var news: [StoreNews] = []
        var restart = true
        var sendBatches = options.sendBatches
        if options.pipelining && batch.count > 1 {
            pipelined: while units.count > 1 {
                hooks?.began()
                writer.beginBatch(isolating: false)
                let outcome = Self.runPipelined(units, conn: conn, writer: writer, sendBatches: sendBatches,
                                                 memory: &pipelineMemory)
                if case .ran(let d, let r, let n) = outcome {
                    done = d
                    again = countAttempt(r)
                    news = n
                    restart = false
                    break pipelined
                }
                if case .connectionLost = outcome { return connectionLost(units) + carried }
                // Roll back what ran; then as the outcome says.
                do {
                    try conn.execute("ROLLBACK")
                    try conn.execute(beginStatement(batch))
                } catch {
                    return connectionLost(units) + carried
                }
                switch outcome {
                case .carry(let lost):
                    statsBox.withLock { $0.transactionsFailed += 1 }
                    units.removeAll { $0 === lost }
                    carried += countAttempt([lost])
                    continue pipelined
                case .unmerge:
                    statsBox.withLock { $0.transactionsFailed += 1 }
                    sendBatches = false
                    continue pipelined
                case .isolate:
                    statsBox.withLock { $0.transactionsFailed += 1 }
                    isolating = true
                default:   // .fallback: a statement at a time
                    statsBox.withLock { $0.pipelineFallbacks += 1 }
                }
                break pipelined
            }
        }
        while restart {
            restart = false
            hooks?.began()
            writer.beginBatch(isolating: isolating)
            done = []
            again = []
            news = []
            for command in units {
                writer.beginUnit()
                command.failure = nil   // a rerun decides afresh
                do {
                    try command.run(writer)
                    done.append(command)
                    news.append(contentsOf: writer.unitNews)
                    continue
                } catch {
                    if let pg = error as? PGError, pg.connectionLost { return connectionLost(units) + carried }
                    let retryable = (error as? PGError)?.isRetryable ?? false
                    if !isolating {
                        if !writer.unitWrote && !conn.transactionFailed {
                            // Nothing of it to undo: it fails alone (locks it took are
                            // held to the commit, as every unit's are).
                            if retryable { again += countAttempt([command]) } else {
                                command.failure = PostgresSyncStore.classify(error)
                                done.append(command)
                            }
                            continue
                        }
                        // It cannot be undone alone: roll back, replay isolating.
                        do {
                            try conn.execute("ROLLBACK")
                            try conn.execute("BEGIN")
                        } catch {
                            return connectionLost(units) + carried
                        }
                        statsBox.withLock { $0.transactionsFailed += 1 }
                        if retryable {
                            units.removeAll { $0 === command }
                            carried += countAttempt([command])
                        }
                        isolating = true
                        restart = true
                        break
                    }
                    let undone: Bool
                    do {
                        undone = try writer.undoUnit()
                    } catch {
                        return connectionLost(units) + carried
                    }
                    guard undone else {
                        // The unit failed before its savepoint and its error aborted the whole
                        // transaction: roll back; it alone is decided now, the rest run again.
                        try? conn.execute("ROLLBACK")
                        statsBox.withLock { $0.transactionsFailed += 1 }
                        let rest = units.filter { $0 !== command }
                        var next = carried + countAttempt(rest)
                        if retryable {
                            next += countAttempt([command])
                        } else {
                            failAll([command], PostgresSyncStore.classify(error))
                        }
                        return next
                    }
                    if retryable {
                        command.attempts += 1
                        if command.attempts >= Self.maxAttempts {
                            command.failure = .storageUnavailable
                            done.append(command)
                        } else {
                            again.append(command)
                        }
                    } else {
                        command.failure = PostgresSyncStore.classify(error)
                        done.append(command)
                    }
                }
            }
        }
        // The batch hook's statements (the member activity), the notify and COMMIT in one
        // plain multi-statement query: one round trip. The hook only writes, so its
        // statements are written down (PGScript.collect), parameters inlined, not run.
        // A notifying COMMIT waits for PostgreSQL's one notify-queue lock, held by other
        // nodes' commits through their WAL flush: not a row lock to give up on after
        // lock_timeout (that would only repeat the batch behind them), so lock_timeout is 0
        // from the notify on, set in the same statement.
        let tail = PGCollected()
        do {
            writer.endUnit()
            if let hooks {
                conn.script = .collect(tail)
                defer { conn.script = .off }
                try hooks.beforeCommit(writer)
            }
            let payloads = NewsCodec.encode(news, node: nodeID)
            if !payloads.isEmpty {
                tail.sql.append(try conn.inlined(Self.notifySQL, [.text(PostgresSyncStore.channel),
                                                                  .text(payloads.joined(separator: "\n"))]))
            }
        } catch {
            if let pg = error as? PGError, pg.connectionLost { return connectionLost(units) + carried }
            try? conn.execute("ROLLBACK")
            statsBox.withLock { $0.transactionsFailed += 1 }
            failAll(units, PostgresSyncStore.classify(error))
            return carried
        }
        tail.sql.append("COMMIT")
        do {
            try conn.execute(tail.sql.joined(separator: ";\n"))
        } catch {
            // No answer to COMMIT: it may have committed. The units fail (503; a resend
            // with the same client_msg_id finds out), and waiters here query again.
            if error.connectionLost {
                let next = connectionLost(units) + carried
                ambiguousCommit()
                return next
            }
            // A statement of the tail failed, so the COMMIT did not run (or failed itself).
            try? conn.execute("ROLLBACK")
            statsBox.withLock { $0.transactionsFailed += 1 }
            // The hook lost a lock wait, or the commit a serialization check: run again.
            if error.isRetryable { return countAttempt(units) + carried }
            failAll(units, PostgresSyncStore.classify(error))
            return carried
        }
        let nanos = MonotonicNanos.now() - started
        statsBox.withLock { s in
            s.transactionsCommitted += 1
            s.unitsCompleted += done.count
            s.roundTrips += conn.takeRoundTrips()
            var bucket = 0
            while bucket < Self.batchBuckets - 1 && (1 << bucket) < batch.count { bucket += 1 }
            s.batchSizeHistogram[bucket] += 1
            let seconds = Double(nanos) / 1e9
            s.commitLatencySum += seconds
            s.commitLatencyCounts[Self.commitBuckets.firstIndex { seconds <= $0 } ?? Self.commitBuckets.count] += 1
        }
        for c in done { c.complete(c.failure) }
        return again + carried
    }
}
