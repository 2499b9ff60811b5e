import Dispatch
import SQLiteStore

/// Holds the writer thread inside a command until released, so that commands
/// submitted meanwhile queue up and the next batch is deterministic.
final class Gate: Sendable {
    private let entered = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    /// Submits the blocking command and returns once the writer thread is inside it.
    func block(_ writer: Writer) {
        writer.submit({ _ in
            self.entered.signal()
            self.released.wait()
        }, completion: { _ in })
        entered.wait()
    }

    func open() { released.signal() }
}

/// A writer on a fresh file in `dir` with one table `t(id, v UNIQUE)`.
func makeWriter(_ dir: String, maxBatchSize: Int = 1024) throws -> Writer {
    try Writer(path: dir + "/w.sqlite", options: .init(maxBatchSize: maxBatchSize)) { db in
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
    }
}
