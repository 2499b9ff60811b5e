import SyncEngine

// A batch's connection and its units' fates (see `GroupCommitWriter.runBatch`): BEGIN on
// a kept or new connection, reruns counted, failures completed.
extension GroupCommitWriter {
    /// BEGIN on the kept connection, or a new one. A kept connection may have died
    /// unnoticed (the server restarted): if BEGIN finds it gone, nothing ran yet, so once
    /// more on a new one. Nil (every unit failed) when no connection takes a BEGIN.
    func begin(_ batch: [Command]) -> PGConnection? {
        var conn: PGConnection! = nil
        for attempt in 0..<2 {
            do {
                if let c = self.conn, c.isOpen {
                    conn = c
                } else {
                    self.conn?.close()
                    self.conn = nil
                    conn = try Self.connect(options)
                    self.conn = conn
                }
                // A rerun of units that lost a lock wait waits a random 1-3x lock_timeout
                // this time: two nodes whose units keep colliding on the same rhythm
                // (each holding what the other waits for, retrying in step) fall out of
                // step, and one of them wins. Same round trip as BEGIN.
                try conn.execute(beginStatement(batch))
                return conn
            } catch {
                self.conn?.close()
                self.conn = nil
                if attempt == 0, let pg = error as? PGError, pg.connectionLost, conn != nil { conn = nil; continue }
                failAll(batch, .storageUnavailable)
                return nil
            }
        }
        return nil
    }

    /// BEGIN, and for a rerun of units that lost a lock wait, their lock_timeout.
    func beginStatement(_ batch: [Command]) -> String {
        guard batch.contains(where: { $0.attempts > 0 }) else { return "BEGIN" }
        let ms = options.lockTimeoutMillis + Int.random(in: 0..<(2 * max(1, options.lockTimeoutMillis)))
        return "BEGIN; SET LOCAL lock_timeout = '\(ms)ms'"
    }

    /// Counts a rerun for each of `commands`; those out of attempts fail (503), the rest
    /// are returned to run again.
    func countAttempt(_ commands: [Command]) -> [Command] {
        var again: [Command] = []
        for c in commands {
            c.failure = nil
            c.attempts += 1
            if c.attempts >= Self.maxAttempts { failAll([c], .storageUnavailable) } else { again.append(c) }
        }
        return again
    }

    func connectionLost(_ batch: [Command]) -> [Command] {
        conn?.close()
        conn = nil
        statsBox.withLock { $0.transactionsFailed += 1 }
        failAll(batch, .storageUnavailable)
        return []
    }

    func failAll(_ batch: [Command], _ error: SyncError) {
        statsBox.withLock { $0.unitsCompleted += batch.count }
        for c in batch { c.complete(error) }
    }
}
