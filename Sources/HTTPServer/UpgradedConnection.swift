import Sockets

/// A connection after `101 Switching Protocols`, as the protocol it switched to
/// (`UpgradeHandler`) sees it: its input buffer, its output buffer, its per-turn work
/// budget, and closing. Whatever the protocol does, the connection's bounds hold
/// (`Connection.maxBufferedInput`, `maxPendingOutput`, `workPerTurn`, the write timeout).
///
/// Confinement: loop thread only, like the connection it wraps.
package final class UpgradedConnection {
    private let connection: Connection

    init(_ connection: Connection) { self.connection = connection }

    package var loop: EventLoop { connection.context.loop }

    /// Neither closing nor closed.
    package var isOpen: Bool {
        if case .upgraded = connection.state { return true }
        return false
    }

    /// Unconsumed input is buffered.
    package var hasInput: Bool { connection.inputStart < connection.input.count }

    /// Calls `body` with the unconsumed input; `consumeInput` says how much was used.
    package func withInput<T>(_ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        let start = connection.inputStart
        return connection.input.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start...])) }
    }

    package func consumeInput(_ count: Int) { connection.inputStart += count }

    /// Counts one unit of work (a frame) against the connection's budget for this turn
    /// of the loop. False when the budget is spent: stop there; `processInput` is called
    /// again on a later turn, after the loop's other connections had theirs.
    package func takeWorkUnit() -> Bool {
        if connection.turnWork >= Connection.workPerTurn {
            connection.yieldTurn()
            return false
        }
        connection.turnWork += 1
        return true
    }

    /// Bytes queued but not yet written.
    package var pendingOutputBytes: Int { connection.pendingOutputBytes }

    /// Unsent output is at its bound: produce nothing more until the peer takes some.
    package var outputBackedUp: Bool { connection.outputBackedUp }

    /// Queues bytes; they go out with the next `flush`.
    package func write(_ bytes: [UInt8]) { connection.output.append(contentsOf: bytes) }

    /// Writes what is queued (while the connection is processing input, it flushes
    /// when done).
    package func flush() {
        if !connection.processing { connection.flush() }
    }

    /// Closes once everything queued is written.
    package func closeAfterOutput() { connection.state = .closing }

    /// Closes now.
    package func close() { connection.close() }
}
