/// The offline push outbox (docs/operations.md, "Offline push"): a message for a member with no live
/// connection (no parked pull, no open socket) queues a push in the same transaction;
/// a dispatcher delivers batches to the webhook, retrying with backoff, and marks a
/// push dead after the maximum attempts.
public enum PushOutbox {
    public struct Push: Sendable {
        public let rowID: Int64
        public let pushID: String
        public let user: String
        public let attempts: Int
        public let message: Message

        public init(rowID: Int64, pushID: String, user: String, attempts: Int, message: Message) {
            self.rowID = rowID
            self.pushID = pushID
            self.user = user
            self.attempts = attempts
            self.message = message
        }
    }

    public struct DeadPush: Sendable {
        public let pushID: String
        public let user: String
        public let roomID: RoomID
        public let messageID: MessageID
        public let attempts: Int
        public let lastError: String?
        public let createdAt: Int64

        public init(pushID: String, user: String, roomID: RoomID, messageID: MessageID, attempts: Int, lastError: String?,
                    createdAt: Int64) {
            self.pushID = pushID
            self.user = user
            self.roomID = roomID
            self.messageID = messageID
            self.attempts = attempts
            self.lastError = lastError
            self.createdAt = createdAt
        }
    }

    /// Called by `Messages.send` inside the send's savepoint (normal rooms only: a hot
    /// room would turn every message into thousands of pushes; big rooms are muted).
    /// `members`: the room's current members, if the caller already read them.
    static func enqueue(_ ctx: WriteContext, room: RoomID, message: MessageID, sender: UserID, members: [UserID]? = nil) throws {
        guard ctx.config.pushEnabled, let isOnline = ctx.isOnline else { return }
        let members = try members ?? ctx.store.pushCandidates(room: room)
        for user in members where user != sender && !isOnline(user) {
            // Stable per (message, user): the receiver de-duplicates on it.
            try ctx.store.enqueuePush(pushID: "m\(message.rawValue)-u\(user.rawValue)", user: user, room: room,
                                   message: message, at: ctx.now)
        }
    }

    /// Claims up to `limit` pushes due now, oldest first, for `leaseMillis`: until then
    /// no other dispatcher (on any node) gets them; the claimer reports each back with
    /// `delivered` or `failed`, and if it never does, they are due again after the lease.
    public static func claimDue(_ ctx: WriteContext, limit: Int, leaseMillis: Int64) throws -> [Push] {
        try ctx.store.claimDuePushes(now: ctx.now, leaseUntil: ctx.now + leaseMillis, limit: limit)
    }

    /// The earliest pending attempt time, or nil when nothing is pending.
    public static func nextAttempt(_ db: any StoreReader) throws -> Int64? {
        try db.nextPushAttempt()
    }

    public static func delivered(_ ctx: WriteContext, rowIDs: [Int64]) throws {
        for id in rowIDs { try ctx.store.pushDelivered(rowID: id) }
    }

    /// Records a failed attempt: exponential backoff with full jitter, dead after `maxAttempts`.
    public static func failed(_ ctx: WriteContext, rowIDs: [Int64], error: String, random: @Sendable (Int64) -> Int64) throws {
        for id in rowIDs {
            guard let attempts = try ctx.store.pushAttempts(rowID: id) else { continue }
            let n = attempts + 1
            if n >= Int64(ctx.config.pushMaxAttempts) {
                try ctx.store.pushFailed(rowID: id, attempts: n, retryAt: nil, error: error)
            } else {
                let cap = min(ctx.config.pushBackoffMaxMillis, ctx.config.pushBackoffBaseMillis << min(n - 1, 30))
                let delay = cap / 2 + random(cap / 2 + 1)   // "equal jitter": at least half the backoff
                try ctx.store.pushFailed(rowID: id, attempts: n, retryAt: ctx.now + delay, error: error)
            }
        }
    }

    public static func dead(_ db: any StoreReader, limit: Int) throws -> [DeadPush] {
        try db.deadPushes(limit: limit)
    }

    public static func deadCount(_ db: any StoreReader) throws -> Int {
        try db.deadPushCount()
    }

    public static func depth(_ db: any StoreReader) throws -> Int {
        try db.pushOutboxDepth()
    }
}
