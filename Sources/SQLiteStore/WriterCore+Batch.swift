/// One group-committed transaction. Layout on the connection:
///
///     BEGIN IMMEDIATE
///       SAVEPOINT cmd; <command 1>; RELEASE cmd                  -- succeeded
///       SAVEPOINT cmd; <command 2>; ROLLBACK TO cmd; RELEASE cmd -- threw: undone alone
///       ...
///     COMMIT                   -- one fsync for all; then completions, in order
///
/// A failing command costs its neighbours nothing. A failing BEGIN or COMMIT (disk
/// full, I/O error, busy) fails every command of the transaction: nothing of it is
/// durable, so no caller may be told otherwise.
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
        do {
            try db.begin(.immediate)
        } catch {
            stats.recordFailedTransaction()
            stats.recordCompleted(commands: jobs.count, failed: jobs.count)
            for job in jobs { job.fail(error) }
            return []
        }
        var ran: [Outcome] = []
        ran.reserveCapacity(jobs.count)
        for index in jobs.indices {
            let rest = jobs[(index + 1)...]
            do {
                try db.run("SAVEPOINT cmd")
            } catch {
                abort(ran, failing: jobs[index], with: error, on: db)
                return rest
            }
            let outcome = jobs[index].run(db)
            ran.append(outcome)
            guard db.isInTransaction else {
                // The whole transaction is gone, earlier commands included.
                let error = outcome.error ?? SQLiteError(extendedCode: SQLiteError.abortRollback,
                                                         message: "transaction rolled back by SQLite during a command")
                abort(ran, with: error, on: db)
                return rest
            }
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
        }
        do {
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

    /// Rolls the transaction back and completes every command in it with `error`.
    private func abort(_ ran: [Outcome], failing unrun: Job? = nil, with error: any Error, on db: Database) {
        db.rollback()
        stats.recordFailedTransaction()
        stats.recordCompleted(commands: ran.count + (unrun == nil ? 0 : 1), failed: ran.count + (unrun == nil ? 0 : 1))
        for outcome in ran { outcome.complete(error) }
        unrun?.fail(error)
    }
}
