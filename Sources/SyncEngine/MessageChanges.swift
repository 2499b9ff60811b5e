/// Edits, recalls and reactions (docs/message-changes.md). Each runs as one writer
/// unit: the room row's lock first (as a send), then the message row's. A change row takes
/// the room's next seq and reaches members like a message (a copy per member inbox in a
/// normal room, merged at pull time in a hot room), and carries no text: every read
/// renders the message as it is. Repeating a change is harmless: the same answer and no
/// second row.
public enum MessageChanges {
    /// `PATCH /v1/rooms/{id}/messages/{seq}`: the sender replaces the body within the edit window.
    public static func edit(_ ctx: WriteContext, me: Principal, room: RoomID, seq: Int64, body: String,
                            maxBodyBytes: Int, bucket: RateBucket? = nil) throws -> Message {
        guard body.utf8.count <= maxBodyBytes else { throw SyncError.bodyTooLarge(limit: maxBodyBytes) }
        try RateBuckets.take(ctx, bucket)
        var room = try locked(ctx, room: room, me: me.user)
        let target = try message(ctx, room: room, seq: seq, me: me.user)
        let m = target.message
        guard target.sender == me.user else { throw SyncError.notSender("only its sender edits a message") }
        guard !m.isDeleted else { throw SyncError.messageDeleted }
        // Bytes, as a resend compares them: the same body again changes nothing, and is
        // answered the same also after the window.
        if m.body.utf8.elementsEqual(body.utf8) { return m }
        guard ctx.now - m.sentAt <= ctx.config.editWindowMillis else {
            throw SyncError.editWindowClosed(windowMillis: ctx.config.editWindowMillis)
        }
        try ctx.store.editMessage(room: room.target.room, seq: seq, body: body, at: ctx.now)
        try appendChange(ctx, &room, .edit, targetSeq: seq, actor: me.user)
        return Message(id: m.id, room: m.room, seq: m.seq, sender: m.sender, senderDevice: m.senderDevice,
                       clientMsgID: m.clientMsgID, body: body, sentAt: m.sentAt, editedAt: ctx.now,
                       editCount: m.editCount + 1, version: m.version + 1, reactions: m.reactions)
    }

    /// `DELETE /v1/rooms/{id}/messages/{seq}`: the sender within the recall window, or the
    /// room's owner at any time, makes the message a tombstone; its text is erased.
    public static func recall(_ ctx: WriteContext, me: Principal, room: RoomID, seq: Int64,
                              bucket: RateBucket? = nil) throws -> Recall {
        try RateBuckets.take(ctx, bucket)
        var room = try locked(ctx, room: room, me: me.user)
        let target = try message(ctx, room: room, seq: seq, me: me.user)
        let owner = room.membership.role == "owner"
        guard owner || target.sender == me.user else {
            throw SyncError.notSender("only its sender or the room's owner recalls a message")
        }
        // A repeat is answered with the tombstone, also after the window.
        if target.message.isDeleted { return Recall(message: target.message, erased: false) }
        guard owner || ctx.now - target.message.sentAt <= ctx.config.recallWindowMillis else {
            throw SyncError.recallWindowClosed(windowMillis: ctx.config.recallWindowMillis)
        }
        return Recall(message: try erase(ctx, &room, target, actor: me.user), erased: true)
    }

    /// A recall's answer: the tombstone, and whether this recall made it (a repeat did not:
    /// then there is no text to scrub from the files).
    public struct Recall: Sendable {
        public let message: Message
        public let erased: Bool
    }

    /// `PUT`/`DELETE /v1/rooms/{id}/messages/{seq}/reactions/{key}`. Only the message row is
    /// locked (no room seq is taken): the counts change at once, and the next flush
    /// (`flushReactions`) writes one `reactions` event for however many changes.
    public static func react(_ ctx: WriteContext, me: Principal, room: RoomID, seq: Int64, key: String, add: Bool,
                             bucket: RateBucket? = nil) throws -> Message {
        guard Validation.isValidReactionKey(key) else {
            throw SyncError.invalid(field: "key", reason: "1-64 bytes of UTF-8 without whitespace or control characters")
        }
        try RateBuckets.take(ctx, bucket)
        let membership = try Rooms.requireMember(ctx.store, room: room, user: me.user)
        guard seq > membership.joinedSeq, let target = try ctx.store.messageForChange(room: room, seq: seq, viewer: me.user) else {
            throw SyncError.messageNotFound
        }
        let m = target.message
        if m.isDeleted {
            // A recall took every reaction with it: taking one back finds it gone already.
            if add { throw SyncError.messageDeleted }
            return m
        }
        var counts = ReactionCounts.counts(target.storedReactions)
        // Keys are one reaction when they are equal as `String`s are, by canonical
        // equivalence (a precomposed "é" and "e" + U+0301), as two such keys of a JSON
        // body are one key. The store compares bytes: a key equivalent to one the message
        // has takes that one's spelling, so the store never holds both (it did, and the
        // counts merged them: one user counted twice, more than the room's members).
        let spelled = counts.keys.first { $0 == key } ?? key
        if add {
            // Already there in some spelling (`me` is read with the same equality; a
            // database from before this rule may hold the other one).
            if m.reactions.contains(where: { $0.key == key && $0.me }) { return m }
            if counts[spelled] == nil && counts.count >= ReactionCounts.maxKeys { throw SyncError.reactionLimit(ReactionCounts.maxKeys) }
            guard try ctx.store.addReaction(room: room, seq: seq, user: me.user, key: spelled, at: ctx.now) else { return m }
            counts[spelled, default: 0] += 1
        } else {
            // The caller's row is in the message's spelling, or (stored before this rule)
            // in the one they send.
            guard try ctx.store.removeReaction(room: room, seq: seq, user: me.user, key: spelled)
                    || (!spelled.utf8.elementsEqual(key.utf8)
                        && ctx.store.removeReaction(room: room, seq: seq, user: me.user, key: key)) else { return m }
            counts[spelled, default: 1] -= 1
        }
        let stored = ReactionCounts.encode(counts)
        try ctx.store.setReactions(room: room, seq: seq, stored: stored, at: ctx.now)
        var mine = Set(m.reactions.filter(\.me).map(\.key))
        if add { mine.insert(spelled) } else { mine.remove(spelled) }
        var out = m
        out.version += 1
        out.reactions = ReactionCounts.decode(stored, mine: mine)
        return out
    }

    /// The reaction marks of `room`: one `reactions` event per message whose reactions
    /// changed since its last one. Returns how many events it wrote.
    public static func flushReactions(_ ctx: WriteContext, room: RoomID) throws -> Int {
        guard let target = try ctx.store.sendTarget(room: room) else { return 0 }
        let seqs = try ctx.store.takeReactionMarks(room: room)
        guard !seqs.isEmpty else { return 0 }   // another node's flush took them
        var locked = try lockedForJob(ctx, target)
        for seq in seqs { try appendChange(ctx, &locked, .reactions, targetSeq: seq, actor: nil) }
        return seqs.count
    }

    // MARK: - Shared steps

    /// A room under its row's lock, with the caller's membership and, for a normal room,
    /// its members (the fan-out), kept current as changes are appended.
    struct LockedRoom {
        var target: SendTarget
        let membership: Rooms.Membership
        var members: [SendMember]
    }

    /// A room whose row's lock `target` took, for a background job (the reactions flush,
    /// an erasure), which acts for no member.
    static func lockedForJob(_ ctx: WriteContext, _ target: SendTarget) throws -> LockedRoom {
        LockedRoom(target: target, membership: Rooms.Membership(joinedSeq: 0, readSeq: 0, role: ""),
                   members: target.hot ? [] : try ctx.store.sendMembers(room: target.room))
    }

    static func locked(_ ctx: WriteContext, room: RoomID, me: UserID) throws -> LockedRoom {
        guard let target = try ctx.store.sendTarget(room: room) else { throw SyncError.roomNotFound }
        if target.hot {
            guard let mine = try ctx.store.membership(room: room, user: me) else { throw SyncError.notMember }
            return LockedRoom(target: target, membership: mine, members: [])
        }
        let members = try ctx.store.sendMembers(room: room)
        guard let mine = members.first(where: { $0.user == me }) else { throw SyncError.notMember }
        return LockedRoom(target: target, membership: Rooms.Membership(joinedSeq: mine.joinedSeq, readSeq: mine.readSeq, role: mine.role),
                          members: members)
    }

    /// The message at `seq` the caller can see (from their join on), its row locked.
    static func message(_ ctx: WriteContext, room: LockedRoom, seq: Int64, me: UserID) throws -> ChangeTarget {
        guard seq > room.membership.joinedSeq,
              let t = try ctx.store.messageForChange(room: room.target.room, seq: seq, viewer: me) else {
            throw SyncError.messageNotFound
        }
        return t
    }

    /// Makes `target` a tombstone and appends its `delete` row.
    static func erase(_ ctx: WriteContext, _ room: inout LockedRoom, _ target: ChangeTarget, actor: UserID) throws -> Message {
        let m = target.message
        try ctx.store.eraseMessage(room: m.room, seq: m.seq, at: ctx.now)
        try appendChange(ctx, &room, .delete, targetSeq: m.seq, actor: actor)
        return Message(id: m.id, room: m.room, seq: m.seq, sender: m.sender, senderDevice: m.senderDevice,
                       clientMsgID: m.clientMsgID, body: "", sentAt: m.sentAt, deletedAt: ctx.now, version: m.version + 1)
    }

    /// A change row at the room's next seq, then to members as a message goes: a row in
    /// each member's inbox (normal room) or the room's own stream (hot room), and their
    /// wake-ups. The wake-ups carry no message: a change is rendered as it is when read.
    static func appendChange(_ ctx: WriteContext, _ room: inout LockedRoom, _ kind: MessageChange.Kind, targetSeq: Int64,
                             actor: UserID?) throws {
        let (id, seq) = try ctx.store.appendChange(to: room.target, kind: kind, targetSeq: targetSeq, actor: actor, at: ctx.now)
        ctx.messageInserted(id.rawValue)
        let r = room.target.room
        room.target = SendTarget(room: r, hot: room.target.hot, lastSeq: seq)
        if room.target.hot {
            ctx.wakeRoom(r, at: seq)
            return
        }
        // Only to members who can see the message (joined before it, or saw it in a stay
        // before they were added back): a change to what was said before someone joined,
        // or while they were away, must not show it to them.
        let later = room.members.filter { $0.joinedSeq >= targetSeq }.map(\.user)
        let saw = later.isEmpty ? [] : try ctx.store.sawInPastStay(room: r, seq: targetSeq, users: later)
        let seeing = room.members.filter { $0.joinedSeq < targetSeq || saw.contains($0.user) }
        guard !seeing.isEmpty else { return }
        let entry = InboxEntry(kind: .message, room: r, roomSeq: seq, payload: nil, createdAt: ctx.now, position: id.rawValue)
        let written = try ctx.store.appendToMembers(room: r, entry, recipients: seeing.map {
            InboxRecipient(user: $0.user, inboxSeq: $0.inboxSeq)
        })
        if written.count != seeing.count { throw SyncError.unexpected("a change's fan-out wrote another number of rows than members") }
        let seqs = Dictionary(written.map { ($0.user, $0.seq) }, uniquingKeysWith: max)
        room.members = room.members.map {
            SendMember(user: $0.user, inboxSeq: seqs[$0.user] ?? $0.inboxSeq, joinedSeq: $0.joinedSeq, readSeq: $0.readSeq, role: $0.role)
        }
        for w in written { ctx.wake(w.user, at: w.seq) }
        ctx.inboxRows += written.count
    }
}
