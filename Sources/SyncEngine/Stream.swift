import JSON
import SQLiteStore

/// A user's event stream: the inbox (write diffusion) merged with the user's hot
/// rooms (read diffusion), in commit order. Pull from a cursor, catch up with per-room
/// limits, ack.
public enum Stream {
    // Built once: a statement is looked up by its text on every pull.
    //
    // A pull selects keys first (inbox rows without message bodies, hot-room seqs from
    // the (room_id, seq) index alone), decides what the page keeps, and only then fetches
    // the bodies of the messages it keeps, one indexed lookup each: a catch-up over
    // thousands of large messages reads the bodies of one page, not of its whole window.
    static let inboxKeysColumns = "seq, kind, room_id, room_seq, pos, payload FROM inbox"
    static let inboxAfterSQL = "SELECT \(inboxKeysColumns) WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?"
    static let inboxWindowSQL = "SELECT \(inboxKeysColumns) WHERE user_id = ? AND seq > ? AND seq <= ? ORDER BY seq"
    static let hotRoomKeysSQL = "SELECT id, seq FROM messages WHERE room_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
    static let messageSQL = """
        SELECT \(Messages.columns) FROM messages m JOIN users su ON su.id = m.sender_id WHERE m.room_id = ? AND m.seq = ?
        """

    /// A hot room the user is in: deliverable messages are those above `floor` (the
    /// later of the user's join and the room turning hot; below it they came through
    /// the inbox or are not the user's to see).
    struct HotMembership {
        let room: RoomID
        let floor: Int64
        let lastSeq: Int64
        /// A room the user left: only (floor, lastSeq = left_seq] remains, and only for
        /// cursors that still name the room.
        let departed: Bool
    }

    static func hotMemberships(_ db: any StoreReader, user: UserID, includeDepartures: Bool = false) throws -> [HotMembership] {
        var all = try db.queryAll("""
            SELECT r.id, max(m.joined_seq, coalesce(r.hot_since_seq, 0)), r.last_seq
            FROM members m JOIN rooms r ON r.id = m.room_id
            WHERE m.user_id = ? AND m.hot = 1 ORDER BY m.room_id
            """, [.integer(user.rawValue)]) {
            HotMembership(room: RoomID($0.int64(0)), floor: $0.int64(1), lastSeq: $0.int64(2), departed: false)
        }
        if includeDepartures {
            all += try db.queryAll("SELECT room_id, floor, left_seq FROM hot_departures WHERE user_id = ? ORDER BY room_id",
                                   [.integer(user.rawValue)]) {
                HotMembership(room: RoomID($0.int64(0)), floor: $0.int64(1), lastSeq: $0.int64(2), departed: true)
            }
        }
        return all
    }

    /// The ids of the hot rooms `user` is in (for Notifier subscriptions).
    public static func hotRooms(_ db: any StoreReader, user: UserID) throws -> Set<RoomID> {
        Set(try hotMemberships(db, user: user).map(\.room))
    }

    /// The newest position of `user`'s stream.
    public static func head(_ db: any StoreReader, user: UserID) throws -> Cursor {
        guard let seq = try db.queryOne("SELECT inbox_seq FROM users WHERE id = ?", [.integer(user.rawValue)], { $0.int64(0) }) else {
            throw SyncError.userNotFound(String(user.rawValue))
        }
        var hot: [RoomID: Int64] = [:]
        for h in try hotMemberships(db, user: user) { hot[h.room] = max(h.floor, h.lastSeq) }
        return Cursor(user: user, inboxSeq: seq, hot: hot)
    }

    /// Validates a client's cursor against the user's stream (DESIGN.md "Ordering and
    /// cursors"). Positions of hot rooms the user has left are dropped (leaving stops
    /// them); a hot room missing from the cursor starts at its join point.
    public static func validate(_ db: any StoreReader, cursor text: String, user: UserID) throws -> Cursor {
        try validateWithHead(db, cursor: text, user: user).cursor
    }

    /// `validate`, also returning the user's inbox head. `bounds` (the user's inbox head
    /// and floor) may come from a read the caller already made in this transaction.
    public static func validateWithHead(_ db: any StoreReader, cursor text: String, user: UserID,
                                        bounds: (head: Int64, floor: Int64)? = nil) throws -> (cursor: Cursor, inboxHead: Int64) {
        guard let cursor = Cursor.decode(text) else { throw SyncError.invalidCursor("cursor does not parse") }
        guard cursor.user == user else { throw SyncError.invalidCursor("cursor belongs to another user") }
        let read = try bounds ?? db.queryOne("SELECT inbox_seq, inbox_floor FROM users WHERE id = ?",
                                             [.integer(user.rawValue)], { ($0.int64(0), $0.int64(1)) })
        guard let (inboxHead, inboxFloor) = read else { throw SyncError.userNotFound(String(user.rawValue)) }
        guard cursor.inboxSeq <= inboxHead else { throw SyncError.invalidCursor("cursor points past the end of the stream") }
        // Events after the cursor were pruned (offline retention): the device must bootstrap.
        guard cursor.inboxSeq >= inboxFloor else { throw SyncError.cursorExpired }
        if cursor.hot.isEmpty { return (Cursor(user: user, inboxSeq: cursor.inboxSeq), inboxHead) }
        // Membership first, before anything about the room itself is looked at: a
        // cursor naming a room the user is not in (or never was) gets one answer,
        // whether that room exists, is hot or how far it is, so a hand-made cursor
        // reveals nothing about other users' rooms.
        var memberships: [RoomID: HotMembership] = [:]
        for h in try hotMemberships(db, user: user, includeDepartures: true) where memberships[h.room]?.departed != false {
            memberships[h.room] = h   // a current membership wins over an older departure
        }
        var keep: [RoomID: Int64] = [:]
        for (room, pos) in cursor.hot {
            guard let h = memberships[room] else { throw SyncError.invalidCursor(Self.notYourRoom) }
            // A departed room's stream ends at the leave: nothing after it is the user's.
            guard pos <= h.lastSeq else { throw SyncError.invalidCursor("cursor points past the end of room \(room)") }
            let historyFloor = try db.queryOne("SELECT history_floor FROM rooms WHERE id = ?", [.integer(room.rawValue)]) {
                $0.int64(0)
            } ?? 0
            guard pos >= historyFloor else { throw SyncError.cursorExpired }
            // Rooms the user has left are dropped once their range is delivered.
            if !h.departed || pos < h.lastSeq { keep[room] = pos }
        }
        return (Cursor(user: user, inboxSeq: cursor.inboxSeq, hot: keep), inboxHead)
    }

    /// The one answer for a cursor naming a room that is not one of the user's hot rooms.
    static let notYourRoom = "cursor names a room that is not one of your hot rooms"

    /// Where a pull without a cursor starts: the device's acked cursor.
    public static func ackedCursor(_ db: any StoreReader, device: DeviceID, user: UserID) throws -> Cursor {
        guard let text = try db.queryOne("SELECT acked_cursor FROM devices WHERE id = ?", [.integer(device.rawValue)], {
            $0.optionalText(0)
        }), let text else { throw SyncError.cursorRequired }
        return try validate(db, cursor: text, user: user)
    }

    /// One candidate of a merged pull, as keys: the message body is fetched only once
    /// the page keeps it (`resolve`).
    struct Item {
        let pos: Int64
        let seq: Int64          // inbox seq, or room seq for a hot room
        let hotRoom: RoomID?    // nil: from the inbox
        let kind: EventKind
        let room: RoomID?
        let roomSeq: Int64?
        /// Extra fields of a non-message event, as stored (parsed only if delivered).
        let payload: String?
        /// False: an inbox row left out by a catch-up (it still advances the inbox position).
        var deliver = true
        var isMessage: Bool { kind == .message }

        static func inbox(_ row: Row) -> Item {
            Item(pos: row.int64(4), seq: row.int64(0), hotRoom: nil, kind: EventKind(rawValue: row.text(1)) ?? .member,
                 room: row.optionalInt64(2).map(RoomID.init), roomSeq: row.optionalInt64(3), payload: row.optionalText(5))
        }
    }

    /// Events after `cursor`, at most `limit` and at most about `maxPageBytes` of JSON
    /// (always at least one event), in commit order. Each component (the inbox, each hot
    /// room) advances only as far as it was returned, so a page cut short by either
    /// bound continues exactly after its last event. With `perRoomLimit`, a long-offline
    /// device gets only the newest N messages of each room plus a gap marker per room,
    /// instead of its whole backlog.
    public static func pull(_ ctx: ReadContext, user: UserID, after cursor: Cursor, limit: Int, perRoomLimit: Int?) throws -> PullResult {
        var items: [Item] = []
        var gaps: [RoomID: Int64] = [:]
        var moreBeyondScan = false
        var inboxRows = 0

        // Inbox candidates (keys only).
        if let perRoom = perRoomLimit {
            let window = try inboxCatchUp(ctx, user: user, after: cursor.inboxSeq, perRoom: perRoom)
            items = window.items
            for (room, before) in window.gaps { gaps[room] = before }
            moreBeyondScan = window.truncated
        } else {
            try ctx.db.query(Self.inboxAfterSQL,
                             [.integer(user.rawValue), .integer(cursor.inboxSeq), .integer(Int64(limit + 1))]) { row in
                items.append(.inbox(row))
            }
            inboxRows = items.count
        }

        // Hot-room candidates, each from its own position (or its floor): seqs from the
        // (room_id, seq) index alone.
        var positions: [RoomID: Int64] = [:]
        var departedEnds: [RoomID: Int64] = [:]
        // Departures matter only to a cursor that still names a hot room.
        for h in try hotMemberships(ctx.db, user: user, includeDepartures: !cursor.hot.isEmpty) {
            if h.departed {
                // Only for a cursor that still names the room, up to the leave.
                guard cursor.hot[h.room] != nil, positions[h.room] == nil else { continue }
                departedEnds[h.room] = h.lastSeq
            }
            var start = max(cursor.hot[h.room] ?? h.floor, h.floor)
            if let perRoom = perRoomLimit, h.lastSeq - start > Int64(perRoom) {
                start = h.lastSeq - Int64(perRoom)
                gaps[h.room] = start + 1
            }
            positions[h.room] = start
            guard h.lastSeq > start else { continue }
            try ctx.db.query(Self.hotRoomKeysSQL, [.integer(h.room.rawValue), .integer(start), .integer(h.lastSeq), .integer(Int64(limit + 1))]) { row in
                let seq = row.int64(1)
                items.append(Item(pos: row.int64(0), seq: seq, hotRoom: h.room, kind: .message, room: h.room, roomSeq: seq, payload: nil))
            }
        }

        // Merge in commit order: a message before the non-message events committed after it.
        items.sort { a, b in
            if a.pos != b.pos { return a.pos < b.pos }
            if a.isMessage != b.isMessage { return a.isMessage }
            return a.seq < b.seq
        }
        // Take events in that order until `limit` or the byte budget; bodies are fetched
        // here, for what the page keeps (plus the one event that ends it).
        var events: [Event] = []
        var bytes = 0
        var inboxSeq = cursor.inboxSeq
        var hasMore = moreBeyondScan
        var consumedInbox = 0
        for item in items {
            if item.deliver {
                if events.count == limit {
                    hasMore = true
                    break
                }
                if let e = try resolve(ctx.db, item) {
                    let size = estimatedBytes(e, storedPayload: item.payload)
                    if !events.isEmpty && bytes + size > ctx.config.maxPageBytes {
                        hasMore = true
                        break
                    }
                    events.append(e)
                    bytes += size
                }
                // else: a message pruned by history retention leaves nothing to deliver
                // (only possible when the offline retention is the longer one).
            }
            if let room = item.hotRoom { positions[room] = item.seq } else { inboxSeq = item.seq; consumedInbox += 1 }
        }
        // Every inbox row read was consumed (some delivered nothing) but the read was
        // capped at limit + 1: the inbox may go on.
        if !hasMore && inboxRows > limit && consumedInbox == inboxRows { hasMore = true }
        // A departed room leaves the cursor once its range is delivered.
        for (room, end) in departedEnds where (positions[room] ?? end) >= end { positions[room] = nil }
        let next = Cursor(user: user, inboxSeq: inboxSeq, hot: positions)
        return PullResult(events: events, cursor: next, hasMore: hasMore,
                          gaps: gaps.keys.sorted().map { (room: $0, beforeSeq: gaps[$0]!) })
    }

    /// The event of a kept item: a message is fetched by (room, seq) through the unique
    /// index; nil when it was pruned.
    static func resolve(_ db: any StoreReader, _ item: Item) throws -> Event? {
        guard item.kind == .message else {
            return Event(kind: item.kind, room: item.room, message: nil, payload: item.payload.flatMap { try? JSONParser.parse($0) })
        }
        guard let room = item.room, let seq = item.roomSeq,
              let m = try db.queryOne(Self.messageSQL, [.integer(room.rawValue), .integer(seq)], { Messages.rowToMessage($0) })
        else { return nil }
        return Event(kind: .message, room: room, message: m, payload: nil)
    }

    /// About what an event adds to a page's JSON, without encoding it: the variable parts
    /// (a message's body is stored as the JSON text it is sent as) plus a fixed allowance
    /// for keys, ids and the timestamp. A budget, not an exact count.
    static func estimatedBytes(_ e: Event, storedPayload: String?) -> Int {
        if let m = e.message { return Messages.estimatedBytes(m) + 48 }
        return 96 + (storedPayload?.utf8.count ?? 0)
    }

    /// The inbox part of a catch-up: scans the keys of up to `catchUpScanWindow` entries
    /// and marks all but the newest `perRoom` messages of each room as left out (every
    /// non-message event stays). No body is read here.
    private static func inboxCatchUp(_ ctx: ReadContext, user: UserID, after: Int64, perRoom: Int) throws
        -> (items: [Item], gaps: [RoomID: Int64], truncated: Bool) {
        let head = try ctx.db.queryOne("SELECT inbox_seq FROM users WHERE id = ?", [.integer(user.rawValue)], { $0.int64(0) }) ?? after
        let upper = min(head, after + Int64(ctx.config.catchUpScanWindow))
        var items: [Item] = []
        items.reserveCapacity(Int(max(0, min(upper - after, 100_000))))
        try ctx.db.query(Self.inboxWindowSQL, [.integer(user.rawValue), .integer(after), .integer(upper)]) { row in
            items.append(.inbox(row))
        }
        // Walk backwards: keep the newest `perRoom` messages of each room.
        var keptPerRoom: [RoomID: Int] = [:]
        var oldestKept: [RoomID: Int64] = [:]
        var dropped = Set<RoomID>()
        for i in items.indices.reversed() where items[i].isMessage {
            guard let room = items[i].room, let seq = items[i].roomSeq else { continue }
            let n = keptPerRoom[room, default: 0]
            if n < perRoom {
                keptPerRoom[room] = n + 1
                oldestKept[room] = seq
            } else {
                items[i].deliver = false
                dropped.insert(room)
            }
        }
        var gaps: [RoomID: Int64] = [:]
        for room in dropped { if let s = oldestKept[room] { gaps[room] = s } }
        return (items, gaps, upper < head)
    }

    /// Whether acking `cursor` would move the device's stored position (so a pull that
    /// presents an already-acked cursor costs no write). The same rule `ack` applies.
    public static func ackWouldAdvance(_ db: any StoreReader, device: DeviceID, cursor: Cursor) throws -> Bool {
        guard let (seq, text) = try storedAck(db, device: device) else { return false }
        return ackMoves(from: seq, text, to: cursor)
    }

    private static func storedAck(_ db: any StoreReader, device: DeviceID) throws -> (Int64, String?)? {
        try db.queryOne("SELECT acked_seq, acked_cursor FROM devices WHERE id = ?", [.integer(device.rawValue)]) {
            ($0.int64(0), $0.optionalText(1))
        }
    }

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
        let cursor = try validate(ctx.db, cursor: text, user: user)
        guard try storeAck(ctx, device: device, cursor: cursor) else { return false }
        return true
    }

    /// Stores an already validated cursor as the device's ack if it moves it forward.
    /// Throws `deviceNotFound` for a device that no longer exists.
    @discardableResult
    static func storeAck(_ ctx: WriteContext, device: DeviceID, cursor: Cursor) throws -> Bool {
        guard let (ackedSeq, ackedText) = try storedAck(ctx.db, device: device) else { throw SyncError.deviceNotFound }
        guard ackMoves(from: ackedSeq, ackedText, to: cursor) else { return false }
        try ctx.db.run("UPDATE devices SET acked_cursor = ?, acked_seq = ?, last_seen_at = ? WHERE id = ?",
                       [.text(cursor.encoded), .integer(cursor.inboxSeq), .integer(ctx.now), .integer(device.rawValue)])
        return true
    }
}
