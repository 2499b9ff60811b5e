/// The domain's errors. The API layer maps each case to one HTTP status and one
/// stable public code; SQL text and paths never leave the server.
public enum SyncError: Error, Sendable, Equatable {
    case invalid(field: String, reason: String)
    case userNotFound(String)
    case userExists(String)
    case deviceNotFound
    case roomNotFound
    case notMember
    /// A user is in `limit` rooms already (EngineConfiguration.maxRoomsPerUser).
    case roomLimit(user: String, limit: Int)
    case forbidden(String)
    case invalidCursor(String)
    case cursorRequired
    case cursorExpired
    case idempotencyConflict
    case bodyTooLarge(limit: Int)
    case seqOutOfRange(lastSeq: Int64)
    /// No message at that seq the caller can see (docs/message-changes.md).
    case messageNotFound
    /// An edit by someone other than the sender; a recall by neither the sender nor the owner.
    case notSender(String)
    case editWindowClosed(windowMillis: Int64)
    case recallWindowClosed(windowMillis: Int64)
    /// An edit of, or a reaction to, a recalled message.
    case messageDeleted
    /// A new reaction key on a message that has `ReactionCounts.maxKeys` already.
    case reactionLimit(Int)
    case storageUnavailable
    /// Something no code path expects: a store error that is not the database being away
    /// (a constraint a bug broke, a statement that does not prepare) or an impossible
    /// state. Answered 500 `internal` and logged with this detail, never shown.
    case unexpected(String)
    /// A rate limit shared by the cluster (`RateBuckets`): retry after the wait.
    case rateLimited(retryAfterMillis: Int, what: String)
    /// The kernel gave no random bytes (a token cannot be made now).
    case randomUnavailable
    case shuttingDown

}
