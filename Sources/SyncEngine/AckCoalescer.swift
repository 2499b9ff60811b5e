import Synchronization

/// The implicit acks of pulls (a pull that presents cursor C acks C), gathered in
/// memory and written as one command per flush instead of one writer command per
/// pull. Losing them in a crash only means a resume without a cursor repeats a little;
/// the explicit `POST /v1/sync/ack` stays a synchronous, durable write.
final class AckCoalescer: Sendable {
    private let pending = Mutex<[DeviceID: Cursor]>([:])

    /// Keeps the furthest cursor per device (the pull validated it).
    func add(device: DeviceID, cursor: Cursor) {
        pending.withLock { p in
            if let existing = p[device], existing.inboxSeq > cursor.inboxSeq { return }
            p[device] = cursor
        }
    }

    func take() -> [(DeviceID, Cursor)] {
        pending.withLock { p in
            defer { p.removeAll(keepingCapacity: true) }
            return p.map { ($0.key, $0.value) }
        }
    }
}

extension SyncEngine {
    /// Records a pull's implicit ack; written by the next background flush (every 250 ms).
    /// `cursor` must have been validated for the device's user (the pull did).
    public func ackLater(device: DeviceID, cursor: Cursor) {
        pullAcks.add(device: device, cursor: cursor)
    }

    /// Writes the gathered implicit acks now, as one command and one store operation
    /// (`StreamWrites.advanceAcks`: each device's stored ack replaced if the new one
    /// moves it forward; a device deleted since its pull is skipped). The pulls
    /// validated these cursors, so they are not validated again (a cursor that expired
    /// meanwhile is stored anyway; resuming from it answers 410, as it should).
    public func flushPullAcks(_ done: @escaping @Sendable () -> Void = {}) {
        let acks = pullAcks.take()
        guard !acks.isEmpty else { return done() }
        write({ ctx in
            // An error ends the flush (lost acks only mean a resume repeats a little).
            _ = try ctx.store.advanceAcks(acks.map { (device: $0.0, cursor: $0.1) }, now: ctx.now)
        }) { _ in done() }
    }
}
