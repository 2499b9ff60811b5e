// The offline-push outbox (see Store.swift for the seam). A push is queued in the
// same unit of work as its message, so a crash delays a push but never loses it;
// delivery is at least once, and `push_id` is stable so the receiver de-duplicates.

public protocol PushOutboxReads {
    /// The earliest pending attempt time, or nil when nothing is pending.
    func nextPushAttempt() throws -> Int64?

    /// Dead pushes (gave up after the maximum attempts), in queue order, at most `limit`.
    func deadPushes(limit: Int) throws -> [PushOutbox.DeadPush]
    func deadPushCount() throws -> Int
    /// Pushes still pending (not dead).
    func pushOutboxDepth() throws -> Int
}

public protocol PushOutboxWrites {
    /// Claims the pushes due at `now` (not dead, next attempt <= now), oldest first (next
    /// attempt, then queue order), at most `limit`: their next attempt moves to
    /// `leaseUntil`, and they are returned, each with its message and the recipient's
    /// name. Each due push goes to exactly one claimer, whatever runs concurrently on
    /// other nodes: a backend with concurrent writers skips rows another unit holds
    /// (`FOR UPDATE SKIP LOCKED`) rather than wait for them or return them twice.
    func claimDuePushes(now: Int64, leaseUntil: Int64, limit: Int) throws -> [PushOutbox.Push]

    /// The current members of `room` (when the send did not read them already).
    func pushCandidates(room: RoomID) throws -> [UserID]

    /// Queues a push of `message` to `user`, due at `at`. A push with this `pushID` is
    /// queued once: a second enqueue of the same id changes nothing.
    func enqueuePush(pushID: String, user: UserID, room: RoomID, message: MessageID, at: Int64) throws

    /// The push was delivered: it leaves the outbox.
    func pushDelivered(rowID: Int64) throws

    /// Attempts made so far on the push, or nil if it is gone (delivered or pruned).
    /// The push belongs to the dispatcher that claimed it (`claimDuePushes`), so
    /// reading then writing its attempts races with no one.
    func pushAttempts(rowID: Int64) throws -> Int64?

    /// Records failed attempt number `attempts`: retry at `retryAt`, or, with nil, give up
    /// (the push is dead and stays for inspection).
    func pushFailed(rowID: Int64, attempts: Int64, retryAt: Int64?, error: String) throws
}
