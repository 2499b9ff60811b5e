import JSON

/// A user's event stream: the inbox (write diffusion) merged with the user's hot
/// rooms (read diffusion), in commit order. Pull from a cursor, catch up with per-room
/// limits, ack.
public enum Stream {
    // A pull selects keys first (inbox rows without message bodies, hot-room seqs
    // without bodies), decides what the page may keep, and only then fetches the bodies
    // of those messages: a catch-up over thousands of large messages reads the bodies of
    // one page, not of its whole window. Every read is set-based (all hot rooms in one
    // key read, all of a page's bodies in one read), so a pull page costs a fixed number
    // of statements on a backend with round trips, whatever it carries: BEGIN, inbox
    // keys (a catch-up: the window with the head), hot memberships, hot-room keys (only
    // when a hot room has something after its position), message bodies (only when the
    // page has a message), COMMIT.

    /// The user's hot rooms (`HotMembership`), current ones first, then (with
    /// `departuresAfter`: stays left whose leave is after that inbox seq) the ones they
    /// left, each part by room id.
    static func hotMemberships(_ db: any StoreReader, user: UserID, departuresAfter: Int64? = nil) throws -> [HotMembership] {
        try db.hotMemberships(user: user, departuresAfter: departuresAfter)
    }

    /// The ids of the hot rooms `user` is in (for Notifier subscriptions).
    public static func hotRooms(_ db: any StoreReader, user: UserID) throws -> Set<RoomID> {
        Set(try hotMemberships(db, user: user).map(\.room))
    }

    /// The newest position of `user`'s stream.
    public static func head(_ db: any StoreReader, user: UserID) throws -> Cursor {
        guard let (seq, memberships) = try db.streamHead(user: user) else {
            throw SyncError.userNotFound(String(user.rawValue))
        }
        var hot: [RoomID: Int64] = [:]
        for h in memberships { hot[h.room] = max(h.floor, h.lastSeq) }
        return Cursor(user: user, inboxSeq: seq, hot: hot)
    }

    /// Validates a client's cursor against the user's stream (ARCHITECTURE.md "Ordering,
    /// cursors"). Positions of hot rooms the user has left are dropped (leaving stops
    /// them); a hot room missing from the cursor starts at its join point.
    public static func validate(_ db: any StoreReader, cursor text: String, user: UserID) throws -> Cursor {
        try validateWithHead(db, cursor: text, user: user).cursor
    }

    /// `validate`, also returning the user's inbox head and, when the validation read
    /// them (a cursor naming hot rooms), the hot rooms the user is in now. `bounds` (the
    /// user's inbox head and floor) may come from a read the caller already made in this
    /// transaction.
    public static func validateWithHead(_ db: any StoreReader, cursor text: String, user: UserID,
                                        bounds: (head: Int64, floor: Int64)? = nil)
        throws -> (cursor: Cursor, inboxHead: Int64, hotRooms: Set<RoomID>?, hotCaughtUp: Bool) {
        guard let cursor = Cursor.decode(text) else { throw SyncError.invalidCursor("cursor does not parse") }
        guard cursor.user == user else { throw SyncError.invalidCursor("cursor belongs to another user") }
        let read = try bounds ?? db.inboxBounds(user: user)
        guard let (inboxHead, inboxFloor) = read else { throw SyncError.userNotFound(String(user.rawValue)) }
        guard cursor.inboxSeq <= inboxHead else { throw SyncError.invalidCursor("cursor points past the end of the stream") }
        // Events after the cursor were pruned (offline retention): the device must bootstrap.
        guard cursor.inboxSeq >= inboxFloor else { throw SyncError.cursorExpired }
        if cursor.hot.isEmpty { return (Cursor(user: user, inboxSeq: cursor.inboxSeq), inboxHead, nil, false) }
        // Membership first, before anything about the room itself is looked at: a
        // cursor naming a room the user is not in (or never was) gets one answer,
        // whether that room exists, is hot or how far it is, so a hand-made cursor
        // reveals nothing about other users' rooms.
        var memberships: [RoomID: HotMembership] = [:]
        // Of a room's departures (one per stay): the newest leave, and the end of the last
        // stay with anything in it (an empty one owes nothing).
        var departures: [RoomID: (owedEnd: Int64, leave: Int64)] = [:]
        for h in try hotMemberships(db, user: user, departuresAfter: 0) {
            if h.departed {
                let d = departures[h.room] ?? (0, 0)
                departures[h.room] = (h.lastSeq > h.floor ? max(d.owedEnd, h.lastSeq) : d.owedEnd, max(d.leave, h.leftInboxSeq))
            }
            // A current membership wins over departures; of departures the latest.
            if let seen = memberships[h.room], !seen.departed || (h.departed && seen.lastSeq >= h.lastSeq) { continue }
            memberships[h.room] = h
        }
        var keep: [RoomID: Int64] = [:]
        for (room, pos) in cursor.hot {
            guard let h = memberships[room] else { throw SyncError.invalidCursor(Self.notYourRoom) }
            // A departed room's stream ends at the leave: nothing after it is the user's.
            guard pos <= h.lastSeq else { throw SyncError.invalidCursor("cursor points past the end of room \(room)") }
            // Read with the memberships (one read for every room of the cursor), looked
            // at only now that the room is known to be the user's.
            guard pos >= h.historyFloor else { throw SyncError.cursorExpired }
            // Rooms the user has left are dropped once their stays are delivered and the
            // newest leave's inbox event is behind the cursor too (a cursor without the
            // room takes a stay whose leave it has not seen for one to deliver).
            let d = departures[room]
            if !h.departed || pos < (d?.owedEnd ?? h.lastSeq) || cursor.inboxSeq < (d?.leave ?? 0) { keep[room] = pos }
        }
        let current = Set(memberships.values.filter { !$0.departed }.map(\.room))
        // Nothing new in any hot room: every current one named at its last seq, every
        // departed one delivered through its last stay.
        let hotCaughtUp = memberships.values.allSatisfy { h in
            h.departed ? (keep[h.room] ?? .max) >= (departures[h.room]?.owedEnd ?? h.lastSeq) : keep[h.room] == h.lastSeq
        }
        return (Cursor(user: user, inboxSeq: cursor.inboxSeq, hot: keep), inboxHead, current, hotCaughtUp)
    }

    /// The one answer for a cursor naming a room that is not one of the user's hot rooms.
    static let notYourRoom = "cursor names a room that is not one of your hot rooms"
}
