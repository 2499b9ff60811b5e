import JSON

/// The first screen (conversation list with unread counters and previews), read
/// markers and unread totals.
public enum Conversations {
    /// The continuation of a conversation list. Pages are keyset pages over activity:
    /// a room whose activity changes later moves above the keyset position, so the token
    /// also carries the ids already returned; a room above the position that is not among
    /// them moved up (or is new) and is returned at the top of the next page instead of
    /// never. Thus no room is listed twice and none is skipped while messages keep
    /// arriving. (`asOf`, the first page's time, is kept in the token but not relied on.)
    struct PageToken {
        var asOf: Int64
        var lastActiveAt: Int64
        var lastRoom: Int64
        var returned: [Int64]   // ascending

        /// `p2` + base64url of LEB128 varints: asOf, lastActiveAt, lastRoom, count, id deltas.
        var encoded: String {
            var bytes: [UInt8] = [0x70, 0x32]
            for v in [asOf, lastActiveAt, lastRoom, Int64(returned.count)] { Varint.append(UInt64(bitPattern: v), to: &bytes) }
            var previous: Int64 = 0
            for id in returned {
                Varint.append(UInt64(id - previous), to: &bytes)
                previous = id
            }
            return Base64URL.encode(bytes)
        }

        static func decode(_ s: String) -> PageToken? {
            guard s.utf8.count <= 12_000, let b = Base64URL.decode(s), b.count >= 2, b[0] == 0x70, b[1] == 0x32 else { return nil }
            var reader = Varint.Reader(bytes: b, offset: 2)
            guard let asOf = reader.next(), let last = reader.next(), let room = reader.next(), let count = reader.next(),
                  count <= 10_000 else { return nil }
            var ids: [Int64] = []
            var previous: Int64 = 0
            for _ in 0..<count {
                // A hostile token must not trap: each delta keeps the running id within Int64.
                guard let d = reader.next(), d > 0, d <= UInt64(Int64.max - previous) else { return nil }
                previous += Int64(d)
                ids.append(previous)
            }
            guard reader.atEnd else { return nil }
            return PageToken(asOf: Int64(bitPattern: asOf), lastActiveAt: Int64(bitPattern: last),
                             lastRoom: Int64(bitPattern: room), returned: ids)
        }
    }


    /// Rooms by last activity, newest first, exactly `limit` per page (fewer only on the
    /// last page), each with unread, read_seq, last_seq and the newest `preview`
    /// messages; plus the stream cursor read in the same transaction, so a pull from it
    /// misses nothing and repeats nothing. Normal rooms keep activity on the member row,
    /// hot rooms on the room row: two index-ordered sources merged here.
    public static func list(_ ctx: ReadContext, me: UserID, limit: Int, preview: Int, page: String?) throws -> ConversationPage {
        var token: PageToken
        if let page {
            guard let t = PageToken.decode(page) else { throw SyncError.invalid(field: "page", reason: "not a page token") }
            token = t
        } else {
            token = PageToken(asOf: Int64.max, lastActiveAt: Int64.max, lastRoom: Int64.max, returned: [])
        }
        let returned = Set(token.returned)
        func before(_ r: Candidate) -> Bool {
            r.activity < token.lastActiveAt || (r.activity == token.lastActiveAt && r.room.id.rawValue < token.lastRoom)
        }
        func newerFirst(_ a: Candidate, _ b: Candidate) -> Bool {
            a.activity != b.activity ? a.activity > b.activity : a.room.id > b.room.id
        }

        // Every room listed so far sits above the keyset position (activity only grows), so
        // a room above it that was not listed yet is one whose activity moved up since the
        // first page (or a new room): those come first. Not a comparison with the snapshot
        // time: a send committed right after the first page's read can carry that very
        // millisecond (or, in a group commit, an earlier one) and would fall in between.
        let hotRooms = try ctx.store.hotConversations(user: me)
        var moved: [Candidate] = []
        if page != nil {
            moved = try ctx.store.normalConversations(user: me, atOrAbove: token.lastActiveAt, room: RoomID(token.lastRoom))
            moved += hotRooms.filter { !before($0) }
            moved = moved.filter { !returned.contains($0.room.id.rawValue) }.sorted(by: newerFirst)
        }
        // The keyset range below that position: normal rooms through the activity index...
        let normal = try ctx.store.normalConversations(user: me, below: token.lastActiveAt, room: RoomID(token.lastRoom),
                                                    limit: limit + 1)
        // ...and hot rooms (a user is in few), merged by activity.
        let inRange = (normal + hotRooms.filter(before)).filter { !returned.contains($0.room.id.rawValue) }.sorted(by: newerFirst)

        let candidates = moved + inRange
        var pageRows = Array(candidates.prefix(limit))
        var hasMore = candidates.count > limit

        // At most about `maxPageBytes` (previews of large messages add up): the page ends
        // before the first conversation that would pass it (never before the first one),
        // and the token below continues from the last one listed, as after a smaller limit.
        // Peers and previews of the whole page in one read each (not one per room), so a
        // page costs a fixed number of statements: BEGIN, hot memberships, normal rooms
        // (and, on later pages, the rooms that moved up), peers (only with a direct room on
        // the page), previews (only when asked for), the cursor (inbox head and hot rooms
        // in one read), COMMIT.
        let directRooms = pageRows.filter { $0.room.kind == .direct }.map(\.room.id)
        let peers = directRooms.isEmpty ? [:] : try ctx.store.otherMemberNames(rooms: directRooms, excluding: me)
        let previews = try Messages.latest(ctx.store, rooms: pageRows.map { ($0.room.id, $0.joinedSeq) }, count: preview, viewer: me)
        var conversations: [Conversation] = []
        var bytes = 0
        for r in pageRows {
            let c = Conversation(
                room: r.room, peer: r.room.kind == .direct ? peers[r.room.id] : nil, readSeq: r.readSeq, lastActiveAt: r.activity,
                preview: previews[r.room.id] ?? [], unread: r.unread)
            let size = estimatedBytes(c)
            if !conversations.isEmpty && bytes + size > ctx.config.maxPageBytes {
                pageRows.removeLast(pageRows.count - conversations.count)
                hasMore = true
                break
            }
            conversations.append(c)
            bytes += size
        }
        var next: String? = nil
        if hasMore {
            if page == nil { token.asOf = max(ctx.now, pageRows.map(\.activity).max() ?? 0) }
            if let lastInRange = pageRows.last(where: { r in inRange.contains { $0.room.id == r.room.id } }) {
                token.lastActiveAt = lastInRange.activity
                token.lastRoom = lastInRange.room.id.rawValue
            }
            // Tracking is bounded so the token stays small: past 2,000 listed rooms a room
            // that moves up may be listed again (clients de-duplicate by room id anyway).
            if token.returned.count + pageRows.count <= 2000 {
                token.returned = (token.returned + pageRows.map(\.room.id.rawValue)).sorted()
            }
            next = token.encoded
        }
        return ConversationPage(conversations: conversations, nextPage: next, cursor: try Stream.head(ctx.store, user: me))
    }

    /// About what a conversation adds to a page's JSON: its names and previews plus a
    /// fixed allowance for the room's other fields.
    static func estimatedBytes(_ c: Conversation) -> Int {
        c.preview.reduce(320 + (c.room.name?.utf8.count ?? 0) + (c.peer?.utf8.count ?? 0)) { $0 + Messages.estimatedBytes($1) }
    }

    /// Moves the caller's read marker forward (never back) and tells their other
    /// devices with a `read` event. A seq beyond the room's last seq is an error.
    public static func markRead(_ ctx: WriteContext, me: Principal, room: RoomID, seq: Int64) throws -> Int64 {
        // One store operation (`ConversationsWrites.moveReadMarker`): the room's lock
        // first, as sends take it, then marker, receipts and inbox rows in the same order
        // by every unit of the room.
        let request = ReadMarkerRequest(room: room, user: me.user, seq: seq, at: ctx.now,
                                        receiptsDueBy: ctx.now - ctx.config.receiptsWindowMillis,
                                        payload: .object([("read_seq", .int(seq))]))
        switch try ctx.store.moveReadMarker(request) {
        case .roomNotFound: throw SyncError.roomNotFound
        case .notMember: throw SyncError.notMember
        case .outOfRange(let lastSeq): throw SyncError.seqOutOfRange(lastSeq: lastSeq)
        case .unchanged(let readSeq): return readSeq
        // Not moved: only with several writers, one of which moved it to seq or beyond
        // since the membership was read; that one sends the events.
        case .raced: return seq
        case .moved(_, let receipts, let readEvent):
            Receipts.applied(ctx, room: room, receipts)
            ctx.inboxRows += 1
            // The event a pull reads at that row (its stored payload parsed again).
            ctx.wake(readEvent.user, at: readEvent.seq, event: Event(kind: .read, room: room, message: nil, payload: request.payload))
            return seq
        }
    }

    /// Total unread and the rooms that have any.
    public static func unread(_ ctx: ReadContext, me: UserID) throws -> (total: Int64, rooms: [(RoomID, Int64)]) {
        let rooms = try ctx.store.unreadRooms(user: me)
        return (rooms.reduce(0) { $0 + $1.unread }, rooms.map { ($0.room, $0.unread) })
    }
}

extension Conversations.Candidate {
    /// What the list is ordered by: normal rooms' activity is the member row's (write
    /// diffusion), hot rooms' the room's.
    var activity: Int64 { room.hot ? room.lastActiveAt : memberActiveAt }
}
