import Synchronization

/// Pruning of old data in small batches, so the single writer is never held for long:
/// inbox rows older than the offline retention (per user, oldest first, moving the
/// user's `inbox_floor`), and messages older than the history retention (oldest ids
/// first, moving each room's `history_floor`). Unread counters do not depend on
/// either (room.last_seq - member.read_seq), so they stay right.
public enum Retention {
    public struct Result: Sendable, Equatable {
        public var inboxRows = 0
        public var messages = 0
        /// More old rows may remain: run again soon.
        public var more = false
    }

    /// Where the round-robin over users stopped (the writer thread only touches it).
    final class Position: Sendable {
        let lastUser = Atomic<Int64>(0)
    }

    /// One bounded batch: at most `batch` inbox rows over at most `users` users, and at
    /// most `batch` messages.
    public static func prune(_ ctx: WriteContext, batch: Int = 500, users: Int = 100) throws -> Result {
        var result = Result()
        guard try ctx.store.claimPruneRound() else { return result }   // another node is at it
        try pruneInbox(ctx, batch: batch, users: users, into: &result)
        try pruneHistory(ctx, batch: batch, into: &result)
        return result
    }

    private static func pruneInbox(_ ctx: WriteContext, batch: Int, users maxUsers: Int, into result: inout Result) throws {
        guard ctx.config.offlineRetentionMillis > 0 else { return }
        let cutoff = ctx.now - ctx.config.offlineRetentionMillis
        let start = ctx.retentionPosition.lastUser.load(ordering: .relaxed)
        let users = try ctx.store.usersInIDOrder(after: UserID(start), limit: maxUsers)
        for user in users {
            // The user's oldest rows come first; look at a bounded prefix.
            guard let boundary = try ctx.store.inboxPruneBoundary(user: user, scan: batch - result.inboxRows, createdBefore: cutoff)
            else { continue }
            result.inboxRows += try ctx.store.pruneInbox(user: user, through: boundary)
            if result.inboxRows >= batch {
                result.more = true
                ctx.retentionPosition.lastUser.store(user.rawValue - 1, ordering: .relaxed)   // this user may have more
                return
            }
        }
        // Wrapped around the user table: start over next time; there may be more if we stopped early.
        if users.count == maxUsers {
            ctx.retentionPosition.lastUser.store(users.last!.rawValue, ordering: .relaxed)
            result.more = true
        } else {
            ctx.retentionPosition.lastUser.store(0, ordering: .relaxed)
        }
    }

    private static func pruneHistory(_ ctx: WriteContext, batch: Int, into result: inout Result) throws {
        guard ctx.config.historyRetentionMillis > 0 else { return }
        let cutoff = ctx.now - ctx.config.historyRetentionMillis
        // Message ids follow commit order, so the oldest messages are the lowest ids.
        let oldest = try ctx.store.oldestMessages(limit: batch)
        let expired = oldest.prefix { $0.sentAt < cutoff }
        guard let last = expired.last else { return }
        result.messages += try ctx.store.deleteMessages(through: last.id)
        // A push for a message that no longer exists can never be delivered.
        try ctx.store.deletePushes(forMessagesThrough: last.id)
        var floors: [RoomID: Int64] = [:]
        for m in expired { floors[m.room] = max(floors[m.room] ?? 0, m.seq) }
        for (room, seq) in floors {
            try ctx.store.raiseHistoryFloor(room: room, to: seq)
        }
        // Inbox rows that pointed at pruned messages carry nothing any more.
        if ctx.config.offlineRetentionMillis > ctx.config.historyRetentionMillis {
            for (room, seq) in floors {
                try ctx.store.deleteMessageEvents(room: room, through: seq)
            }
        }
        if expired.count == oldest.count && oldest.count == batch { result.more = true }
    }
}
