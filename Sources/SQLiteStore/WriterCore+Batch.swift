/// One group-committed transaction. Layout on the connection:
///
///     BEGIN IMMEDIATE
///       <command 1>            -- succeeded
///       <command 2>            -- threw before changing anything: nothing to undo
///       ...
///     COMMIT                   -- one fsync for all; then completions, in order
///
/// Commands run without a savepoint of their own: a SAVEPOINT makes SQLite copy
/// every page a command touches into the statement journal (a 200-member fan-out
/// copies hundreds of pages), which measured a fifth of the writer's time. Almost
/// every failing command fails before its first write (validation, 403/404/409),
/// and then there is nothing to undo. A command that fails *after* changing rows
/// (SQLite's change counter moved) cannot be undone alone, so the transaction is
/// rolled back and the batch replayed from the start with each command in its own
/// SAVEPOINT (the isolating layout):
///
///     BEGIN IMMEDIATE
///       SAVEPOINT cmd; <command 1>; RELEASE cmd                  -- succeeded
///       SAVEPOINT cmd; <command 2>; ROLLBACK TO cmd; RELEASE cmd -- threw: undone alone
///       ...
///     COMMIT
///
/// Either way a failing command costs its neighbours nothing, and a command's
/// completion reports the run whose transaction committed (a replayed command's
/// first run is discarded unreported, so commands must keep their effects inside
/// the database; see `Writer.submit`). A failing BEGIN or COMMIT (disk full, I/O
/// error, busy) fails every command of the transaction: nothing of it is durable,
/// so no caller may be told otherwise.
extension WriterCore {
    /// A type-erased command with its completion.
    struct Job: Sendable {
        /// Runs the command; the outcome holds its value until the commit decides.
        let run: @Sendable (Database) -> Outcome
        /// Completes without running (BEGIN failed).
        let fail: @Sendable (any Error) -> Void

        init<T: Sendable>(_ command: @escaping @Sendable (Database) throws -> T,
                          completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
            run = { db in
                do {
                    let value = try command(db)
                    return Outcome(error: nil) { failure in
                        completion(failure.map { .failure($0) } ?? .success(value))
                    }
                } catch {
                    return Outcome(error: error) { failure in completion(.failure(failure ?? error)) }
                }
            }
            fail = { completion(.failure($0)) }
        }
    }

    /// A command that ran: its own error, if any, and how to complete it once the
    /// transaction's fate (nil: committed; else that error) is known.
    struct Outcome {
        let error: (any Error)?
        let complete: ((any Error)?) -> Void
    }

    /// Runs `jobs` in one transaction and completes them. Returns the jobs it did not
    /// get to: only when SQLite rolled the transaction back under a command (it does
    /// on SQLITE_FULL, IOERR, NOMEM: https://www.sqlite.org/lang_transaction.html);
    /// those have not run, so they get a fresh transaction instead of a false error.
    func runTransaction(_ jobs: ArraySlice<Job>, on db: Database) -> ArraySlice<Job> {
        let started = WriterStats.monotonicNanos()
        let hooks = batchHooks.withLock { $0 }
        guard begin(jobs, hooks, on: db) else { return [] }
        var isolating = false
        var ran: [Outcome] = []
        ran.reserveCapacity(jobs.count)
        var index = jobs.startIndex
        while index < jobs.endIndex {
            let rest = jobs[(index + 1)...]
            if isolating {
                do {
                    try db.run("SAVEPOINT cmd")
                } catch {
                    abort(ran, failing: jobs[index], with: error, on: db)
                    return rest
                }
            }
            let changesBefore = db.totalChanges
            let outcome = jobs[index].run(db)
            guard db.isInTransaction else {
                // The whole transaction is gone, earlier commands included.
                ran.append(outcome)
                let error = outcome.error ?? SQLiteError(extendedCode: SQLiteError.abortRollback,
                                                         message: "transaction rolled back by SQLite during a command")
                abort(ran, with: error, on: db)
                return rest
            }
            if isolating {
                ran.append(outcome)
                do {
                    if outcome.error == nil {
                        try db.run("RELEASE cmd")
                    } else {
                        try db.rollback(to: "cmd")
                    }
                } catch {
                    abort(ran, with: error, on: db)
                    return rest
                }
            } else if outcome.error != nil && db.totalChanges != changesBefore {
                // It failed half-way through its writes: only a savepoint could undo
                // them alone. Start over, isolating every command. The runs so far are
                // dropped unreported; their effects go with the rollback.
                db.rollback()
                stats.recordReplay()
                guard begin(jobs, hooks, on: db) else { return [] }
                isolating = true
                ran.removeAll(keepingCapacity: true)
                index = jobs.startIndex
                continue
            } else {
                ran.append(outcome)
            }
            index += 1
        }
        do {
            try hooks?.beforeCommit(db)
            try db.commit()
        } catch {
            abort(ran, with: error, on: db)
            return []
        }
        stats.recordCommit(nanos: WriterStats.monotonicNanos() - started)
        stats.recordCompleted(commands: ran.count, failed: ran.count { $0.error != nil })
        for outcome in ran { outcome.complete(nil) }
        return []
    }

    /// BEGIN IMMEDIATE plus the batch hook; on failure every job fails with the error.
    private func begin(_ jobs: ArraySlice<Job>, _ hooks: Writer.BatchHooks?, on db: Database) -> Bool {
        do {
            try db.begin(.immediate)
            hooks?.began()
            return true
        } catch {
            stats.recordFailedTransaction()
            stats.recordCompleted(commands: jobs.count, failed: jobs.count)
            for job in jobs { job.fail(error) }
            return false
        }
    }

    /// Rolls the transaction back and completes every command in it with `error`.
    private func abort(_ ran: [Outcome], failing unrun: Job? = nil, with error: any Error, on db: Database) {
        db.rollback()
        stats.recordFailedTransaction()
        stats.recordCompleted(commands: ran.count + (unrun == nil ? 0 : 1), failed: ran.count + (unrun == nil ? 0 : 1))
        for outcome in ran { outcome.complete(error) }
        unrun?.fail(error)
    }
}
