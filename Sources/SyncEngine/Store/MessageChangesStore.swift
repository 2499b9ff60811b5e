// Edits, recalls, reactions and erasing a user (docs/message-changes.md; see Store.swift
// for the seam).
//
// A change is a row of the room's stream like a message: it takes the room's next seq
// under the room row's lock (`appendChange`), so room seqs stay gapless, and it is
// written into members' inboxes (a normal room) or merged at pull time (a hot room)
// exactly as a message is. It stores no text: the message's own row holds its current
// state, and every read renders that state.

/// A message a change applies to, as the unit sees it under the lock of its row.
public struct ChangeTarget: Sendable {
    /// Rendered for the unit's caller (their `me` in the reactions).
    public let message: Message
    public let sender: UserID
    /// The stored reaction counts (`ReactionCounts`).
    public let storedReactions: String?

    public init(message: Message, sender: UserID, storedReactions: String?) {
        self.message = message
        self.sender = sender
        self.storedReactions = storedReactions
    }
}

/// A user's erasure as `GET /v1/admin/users/{name}/erasure` shows it.
public struct ErasureProgress: Sendable, Equatable {
    public let requestedAt: Int64
    public let finishedAt: Int64?
    public let messagesErased: Int64
    public let messagesLeft: Int64
    public let reactionsLeft: Int64

    public init(requestedAt: Int64, finishedAt: Int64?, messagesErased: Int64, messagesLeft: Int64, reactionsLeft: Int64) {
        self.requestedAt = requestedAt
        self.finishedAt = finishedAt
        self.messagesErased = messagesErased
        self.messagesLeft = messagesLeft
        self.reactionsLeft = reactionsLeft
    }
}

public protocol MessageChangesReads {
    /// Rooms with messages whose reactions changed since their last `reactions` event,
    /// the longest waiting first, at most `limit`.
    func roomsWithReactionMarks(limit: Int) throws -> [RoomID]

    /// Users whose erasure was asked for and is not finished, ascending.
    func erasuresPending() throws -> [UserID]

    /// The user's erasure, or nil if none was asked for.
    func erasure(user: UserID) throws -> ErasureProgress?
}

public protocol MessageChangesWrites {
    /// The message (not a change row) at `seq` of `room`, its row locked until the unit
    /// commits, rendered for `viewer`; nil if there is none.
    func messageForChange(room: RoomID, seq: Int64, viewer: UserID) throws -> ChangeTarget?

    /// Replaces the body, sets `edited_at`, adds one to `edit_count` and `version`.
    func editMessage(room: RoomID, seq: Int64, body: String, at: Int64) throws

    /// Makes the message a tombstone: the body erased in place (empty), `deleted_at` set,
    /// edits and reaction counts cleared, `version` plus one; its reactions and reaction
    /// mark are deleted.
    func eraseMessage(room: RoomID, seq: Int64, at: Int64) throws

    /// Appends a change row to `target.room` at the room's next seq (gapless, under the
    /// room row's lock `sendTarget` took), after the message at `targetSeq`; the room's
    /// change count moves with it. Its activity does not move (a change does not reorder
    /// the conversation list). `actor` (nil: the message's sender) is the row's sender.
    /// Returns its id (the commit position) and seq.
    func appendChange(to target: SendTarget, kind: MessageChange.Kind, targetSeq: Int64, actor: UserID?,
                      at: Int64) throws -> (id: MessageID, seq: Int64)

    /// Of `users`, those who could see the message at `seq` of `room` in one of their past
    /// stays (`past_stays`): a member added back still gets the changes of what they saw.
    func sawInPastStay(room: RoomID, seq: Int64, users: [UserID]) throws -> Set<UserID>

    /// Adds `user`'s reaction `key`; false if it was there.
    func addReaction(room: RoomID, seq: Int64, user: UserID, key: String, at: Int64) throws -> Bool

    /// Removes `user`'s reaction `key`; false if it was not there.
    func removeReaction(room: RoomID, seq: Int64, user: UserID, key: String) throws -> Bool

    /// Stores the message's reaction counts (`ReactionCounts.encode`), `version` plus one,
    /// and marks the message for the next `reactions` event.
    func setReactions(room: RoomID, seq: Int64, stored: String?, at: Int64) throws

    /// Takes (deletes and returns) the room's reaction marks: the seqs of the messages
    /// whose reactions changed, ascending.
    func takeReactionMarks(room: RoomID) throws -> [Int64]

    /// Asks for `user`'s erasure (the first request is kept); false if it was asked for
    /// before or the user does not exist.
    func requestErasure(user: UserID, at: Int64) throws -> Bool

    /// The user's messages that are not tombstones yet, by client_msg_id above `after`
    /// (a range of the unique (sender, client_msg_id) index: each batch continues where
    /// the last one stopped, no index of its own), at most `limit`.
    func messagesToErase(sender: UserID, after: String, limit: Int) throws -> [(room: RoomID, seq: Int64, clientMsgID: String)]

    /// The user's reactions, at most `limit`.
    func reactionsToErase(user: UserID, limit: Int) throws -> [(room: RoomID, seq: Int64, key: String)]

    /// Adds `count` to the user's erased messages; with `finishedAt`, the erasure is done.
    func recordErasure(user: UserID, erased count: Int, finishedAt: Int64?) throws
}
