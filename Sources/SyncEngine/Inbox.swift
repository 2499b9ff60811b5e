import JSON

/// Write diffusion: appending events to users' inboxes. The store assigns each row the
/// user's next inbox seq (strictly increasing per user, under the user row's lock);
/// the domain records the user for a wake-up after the commit.
enum Inbox {
    /// A member of a room with their inbox position as read in this command (see
    /// `InboxRecipient`), handed to a fan-out by a caller that already read the members.
    typealias Recipient = InboxRecipient

    /// One event for every current member of `room` (or for `recipients`, the room's
    /// members as the caller read them in this command). One store operation: it
    /// assigns every member's seq and returns them, and each member is woken at theirs.
    static func appendToMembers(_ ctx: WriteContext, room: RoomID, kind: EventKind, roomSeq: Int64?,
                                payload: JSONValue?, recipients: [Recipient]? = nil) throws {
        let entry = InboxEntry(kind: kind, room: room, roomSeq: roomSeq, payload: payload, createdAt: ctx.now,
                               position: try ctx.position())
        let appended = try ctx.store.appendToMembers(room: room, entry, recipients: recipients)
        // The wakes go to the pairs returned: they must be the members the caller read
        // (anything else fails the command, which the writer then undoes alone).
        if let recipients, appended.count != recipients.count { throw SyncError.unexpected("the fan-out wrote another number of inbox rows than recipients") }
        for a in appended { ctx.wake(a.user, at: a.seq) }
        ctx.inboxRows += appended.count
    }

    /// One event for one user (who may no longer be a member, e.g. after removal).
    static func append(_ ctx: WriteContext, user: UserID, kind: EventKind, room: RoomID?, roomSeq: Int64?,
                       payload: JSONValue?) throws {
        let entry = InboxEntry(kind: kind, room: room, roomSeq: roomSeq, payload: payload, createdAt: ctx.now,
                               position: try ctx.position())
        guard let seq = try ctx.store.appendToInbox(user: user, entry) else {
            throw SyncError.userNotFound(String(user.rawValue))
        }
        ctx.inboxRows += 1
        ctx.wake(user, at: seq)
    }

    static func memberPayload(action: String, user: String, by: String?) -> JSONValue {
        var members: [(String, JSONValue)] = [("action", .string(action)), ("user", .string(user))]
        if let by { members.append(("by", .string(by))) }
        return .object(members)
    }
}
