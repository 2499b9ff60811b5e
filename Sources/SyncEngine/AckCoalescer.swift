import Synchronization

/// The implicit acks of pulls (a pull that presents cursor C acks C), gathered in
/// memory and written as one command per flush instead of one writer command per
/// pull. Losing them in a crash only means a resume without a cursor repeats a little;
/// the explicit `POST /v1/sync/ack` stays a synchronous, durable write.
final class AckCoalescer: Sendable {
    private let pending = Mutex<[DeviceID: (user: UserID, cursor: String, seq: Int64)]>([:])

    /// Keeps the furthest cursor per device.
    func add(device: DeviceID, user: UserID, cursor: Cursor) {
        pending.withLock { p in
            if let existing = p[device], existing.seq > cursor.inboxSeq { return }
            p[device] = (user, cursor.encoded, cursor.inboxSeq)
        }
    }

    func take() -> [(DeviceID, UserID, String)] {
        pending.withLock { p in
            defer { p.removeAll(keepingCapacity: true) }
            return p.map { ($0.key, $0.value.user, $0.value.cursor) }
        }
    }
}

extension SyncEngine {
    /// Records a pull's implicit ack; written by the next background flush (every 250 ms).
    public func ackLater(device: DeviceID, user: UserID, cursor: Cursor) {
        pullAcks.add(device: device, user: user, cursor: cursor)
    }

    /// Writes the gathered implicit acks now, as one command (each ack in its own
    /// savepoint, so a cursor that became invalid does not lose the others).
    public func flushPullAcks(_ done: @escaping @Sendable () -> Void = {}) {
        let acks = pullAcks.take()
        guard !acks.isEmpty else { return done() }
        write({ ctx in
            for (device, user, cursor) in acks {
                _ = try? ctx.db.savepoint("ack") { _ in try Stream.ack(ctx, device: device, user: user, cursor: cursor) }
            }
        }) { _ in done() }
    }
}
