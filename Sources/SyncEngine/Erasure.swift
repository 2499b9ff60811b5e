/// Erasing a user (`DELETE /v1/admin/users/{name}`, docs/message-changes.md): their
/// devices are revoked at once, then, in the background and in bounded steps, every
/// message they sent becomes a tombstone (with a `delete` event, as a recall) and every
/// reaction they made is taken back (with `reactions` events, through the flush). Their
/// rooms go on working for everyone else.
public enum Erasure {
    /// The request: devices revoked (sockets closed, pulls ended, tokens refused), the
    /// erasure recorded for the background job. Repeating it changes nothing more.
    /// Returns the user (their progress is a read of its own: counting what is left is
    /// work for a read thread, not for the writer).
    public static func request(_ ctx: WriteContext, userName: String) throws -> UserID {
        guard let user = try ctx.store.user(named: userName) else { throw SyncError.userNotFound(userName) }
        for d in try ctx.store.devices(of: user.id) where !d.revoked { try Accounts.revokeDevice(ctx, id: d.id) }
        _ = try ctx.store.requestErasure(user: user.id, at: ctx.now)
        return user.id
    }

    /// What one step did.
    public struct Step: Sendable {
        /// Messages made tombstones and reactions taken back in this step.
        public let messages: Int
        public let reactions: Int
        /// Where the next step's message scan continues (a client_msg_id).
        public let after: String
        public let done: Bool
    }

    /// One bounded step: up to `erasureBatch` messages (and no more than about 5,000
    /// inbox rows of their `delete` events), then, once no message is left, up to
    /// `erasureBatch` reactions. Rooms are locked in ascending id order (a step may touch
    /// several; every other unit locks one).
    public static func step(_ ctx: WriteContext, user: UserID, after: String) throws -> Step {
        let batch = try ctx.store.messagesToErase(sender: user, after: after, limit: ctx.config.erasureBatch)
        if !batch.isEmpty {
            var erased = 0
            var cut = false
            var rooms: [RoomID: MessageChanges.LockedRoom] = [:]
            for m in batch.sorted(by: { ($0.room.rawValue, $0.seq) < ($1.room.rawValue, $1.seq) }) {
                if ctx.inboxRows > 5_000 {
                    cut = true
                    break
                }
                guard var room = try rooms[m.room]
                    ?? ctx.store.sendTarget(room: m.room).map({ try MessageChanges.lockedForJob(ctx, $0) }) else { continue }
                if let t = try ctx.store.messageForChange(room: m.room, seq: m.seq, viewer: user), !t.message.isDeleted {
                    _ = try MessageChanges.erase(ctx, &room, t, actor: user)
                    erased += 1
                }
                rooms[m.room] = room
            }
            try ctx.store.recordErasure(user: user, erased: erased, finishedAt: nil)
            // Sorted by room for the locks, the scan goes on from the highest key done; a
            // step cut short by its row bound leaves keys below that for a later pass.
            return Step(messages: erased, reactions: 0, after: cut ? after : batch.map(\.clientMsgID).max() ?? after, done: false)
        }
        let reactions = try ctx.store.reactionsToErase(user: user, limit: ctx.config.erasureBatch)
        for r in reactions {
            let t = try ctx.store.messageForChange(room: r.room, seq: r.seq, viewer: user)
            // Removed even when its message is gone (nothing else would): every step
            // takes reactions off the list, so the erasure ends.
            guard try ctx.store.removeReaction(room: r.room, seq: r.seq, user: user, key: r.key), let t else { continue }
            var counts = ReactionCounts.counts(t.storedReactions)
            counts[r.key, default: 1] -= 1
            try ctx.store.setReactions(room: r.room, seq: r.seq, stored: ReactionCounts.encode(counts), at: ctx.now)
        }
        let done = reactions.count < ctx.config.erasureBatch
        try ctx.store.recordErasure(user: user, erased: 0, finishedAt: done ? ctx.now : nil)
        return Step(messages: 0, reactions: reactions.count, after: after, done: done)
    }
}
