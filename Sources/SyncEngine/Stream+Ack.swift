// Acks (see `Stream`): a device says it has stored everything up to a cursor.
extension Stream {
    /// Acks only move forward: the inbox position decides; at an equal inbox position a
    /// cursor with further hot-room positions (and none behind) still moves it.
    public static func ackMoves(from ackedSeq: Int64, _ ackedText: String?, to cursor: Cursor) -> Bool {
        guard let ackedText else { return true }
        if cursor.inboxSeq != ackedSeq { return cursor.inboxSeq > ackedSeq }
        guard let older = Cursor.decode(ackedText) else { return true }
        return cursor.hot.contains { room, pos in pos > (older.hot[room] ?? -1) }
            && !cursor.hot.contains { room, pos in pos < (older.hot[room] ?? -1) }
    }

    /// Stores the device's acked cursor; only moves forward (an older cursor is a no-op,
    /// see `ackMoves`). Returns whether it moved.
    @discardableResult
    public static func ack(_ ctx: WriteContext, device: DeviceID, user: UserID, cursor text: String) throws -> Bool {
        let cursor = try validate(ctx.store, cursor: text, user: user)
        guard try storeAck(ctx, device: device, cursor: cursor) else { return false }
        return true
    }

    /// Stores an already validated cursor as the device's ack if it moves it forward.
    /// Throws `deviceNotFound` for a device that no longer exists.
    @discardableResult
    static func storeAck(_ ctx: WriteContext, device: DeviceID, cursor: Cursor) throws -> Bool {
        // One store operation (`StreamWrites.advanceAcks`): the device row's lock, the
        // forward-only comparison and the update.
        guard case .some(.some(let moved)) = try ctx.store.advanceAcks([(device: device, cursor: cursor)], now: ctx.now)[device]
        else { throw SyncError.deviceNotFound }
        return moved
    }
}
