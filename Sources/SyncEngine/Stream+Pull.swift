import JSON

// A pull page (see `Stream`): keys first, then the bodies the page keeps.
extension Stream {
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

        static func inbox(_ key: InboxKey) -> Item {
            Item(pos: key.pos, seq: key.seq, hotRoom: nil, kind: key.kind, room: key.room, roomSeq: key.roomSeq, payload: key.payload)
        }
    }

    /// Merges the streams' items (the inbox's, each hot room's; each already in its own
    /// seq order) in commit order: by position, a message before the non-message events
    /// committed after it. Never reorders within a stream: with several writers (nodes)
    /// positions are taken before commit, so one stream's positions need not grow with
    /// its seqs, and a page must still advance each stream in seq order (the cursor keeps
    /// one position per stream: skipping back or ahead in one would skip or repeat).
    static func mergeByPosition(_ items: [Item]) -> [Item] {
        var streams: [[Item]] = []
        var index: [RoomID?: Int] = [:]
        for item in items {
            if let i = index[item.hotRoom] {
                streams[i].append(item)
            } else {
                index[item.hotRoom] = streams.count
                streams.append([item])
            }
        }
        if streams.count == 1 { return streams[0] }
        func before(_ a: Item, _ b: Item) -> Bool {
            if a.pos != b.pos { return a.pos < b.pos }
            if a.isMessage != b.isMessage { return a.isMessage }
            return a.seq < b.seq
        }
        var heads = Array(repeating: 0, count: streams.count)
        var merged: [Item] = []
        merged.reserveCapacity(items.count)
        while merged.count < items.count {
            var best = -1
            for s in streams.indices where heads[s] < streams[s].count {
                if best < 0 || before(streams[s][heads[s]], streams[best][heads[best]]) { best = s }
            }
            merged.append(streams[best][heads[best]])
            heads[best] += 1
        }
        return merged
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

        // Inbox candidates (keys only). A catch-up leaves some out below, once the change
        // rows it needs are read (with the hot rooms', in one read).
        var inboxRooms: [RoomID: (count: Int, range: RoomRange)] = [:]
        if let perRoom = perRoomLimit {
            let window = try inboxCatchUpWindow(ctx, user: user, after: cursor.inboxSeq, perRoom: perRoom)
            items = window.items
            inboxRooms = window.rooms
            moreBeyondScan = window.truncated
        } else {
            items = try ctx.store.inboxKeys(user: user, after: cursor.inboxSeq, limit: limit + 1).map(Item.inbox)
            inboxRows = items.count
        }

        // Hot-room candidates, each from its own position (or its floor): seqs only, all
        // rooms in one read. A room can have several stays (left and joined again): one
        // range per stay still owed, never the seqs between them (sent while the user was
        // not a member), so a long absence costs nothing to read past.
        var positions: [RoomID: Int64] = [:]
        var ranges: [RoomRange] = []
        // A room the user is no longer in leaves the cursor once its last owed stay is
        // delivered and the newest leave's inbox event (`leave`) is behind the cursor too
        // (until then a cursor without the room would take a stay for one it has not seen).
        var departedEnds: [RoomID: (end: Int64, leave: Int64)] = [:]
        // Departures matter to a cursor that names a hot room, or that is behind in the
        // inbox; only stays whose leave's inbox event is after the cursor (a stay whose
        // leave it has passed was delivered: its messages come before the leave).
        let memberships = try hotMemberships(ctx.store, user: user,
                                             departuresAfter: !cursor.hot.isEmpty || !items.isEmpty ? cursor.inboxSeq : nil)
        // Each room's stays still owed, oldest first.
        var owedByRoom: [RoomID: [(start: Int64, end: Int64)]] = [:]
        for (room, stays) in Dictionary(grouping: memberships, by: \.room) {
            let named = cursor.hot[room]
            var owed: [(start: Int64, end: Int64)] = []
            var current: Int64?   // the start of the stay going on now, if any
            var latestLeave: Int64?
            for h in stays.sorted(by: { $0.floor != $1.floor ? $0.floor < $1.floor : $0.lastSeq < $1.lastSeq }) {
                if h.departed { latestLeave = max(latestLeave ?? 0, h.leftInboxSeq) }
                var start: Int64
                if let named {
                    start = max(named, h.floor)
                } else {
                    // A stay the cursor does not name: one whose leave it has not seen
                    // (its inbox is before the leave's event), or the current one; it
                    // starts at the member's floor, or at the room's history floor if
                    // retention pruned past it (a page that ends before this room's first
                    // message must not hand out an expired position).
                    if h.departed && h.leftInboxSeq <= cursor.inboxSeq { continue }
                    start = max(h.floor, h.historyFloor)
                }
                if !h.departed { current = start }
                if h.lastSeq > start { owed.append((start, h.lastSeq)) }
            }
            guard !owed.isEmpty else {
                if let current {   // the current stay, caught up
                    positions[room] = current
                } else if let named, let latestLeave, latestLeave > cursor.inboxSeq {
                    positions[room] = named   // delivered, the leave not yet
                    departedEnds[room] = (named, latestLeave)
                }
                continue
            }
            if current == nil, let latestLeave { departedEnds[room] = (owed.last!.end, latestLeave) }
            owedByRoom[room] = owed
        }
        // Catch-up: the newest `perRoom` messages of the stays owed (a gap names the
        // oldest kept; history below it is the member's to page). Changes are not
        // messages, as in the inbox's catch-up: they never count toward `perRoom`, and a
        // change is delivered unless this page left out the message it changes (a recall
        // of a message the device has comes however far back it is, within the newest
        // `catchUpScanWindow` seqs of the room; a later page of the same catch-up, whose
        // cursor no longer tells what an earlier one left out, may bring the change of a
        // message left out, as it is now). A room that turned hot with messages of its
        // inbox days in this window is counted across both: its newest messages are the
        // hot ones, and its inbox part keeps what they leave of `perRoom`. The change
        // rows of the hot rooms with more seqs owed than `perRoom` or with an inbox part
        // here (of their newest `catchUpScanWindow` seqs: a room with a million reactions
        // costs no more), and of the inbox's rooms that may leave something out, in one
        // read.
        var hiddenChanges: Set<MessageKey> = []   // changes whose message the catch-up left out
        if let perRoom = perRoomLimit {
            let crowded = owedByRoom.filter { length($0.value) > Int64(perRoom) || inboxRooms[$0.key] != nil }
            var scanned: [RoomID: [(start: Int64, end: Int64)]] = [:]
            for (room, owed) in crowded {
                var left = Int64(ctx.config.catchUpScanWindow)
                for stay in owed.reversed() where left > 0 {
                    let take = min(left, stay.end - stay.start)
                    scanned[room, default: []].insert((stay.end - take, stay.end), at: 0)
                    left -= take
                }
            }
            let inboxRanges = inboxRooms.compactMap { room, r in r.count > perRoom || crowded[room] != nil ? r.range : nil }
            let crowdedRanges = inboxRanges + scanned.flatMap { room, window in
                window.map { RoomRange(room: room, after: $0.start, through: $0.end) }
            }
            let changes = crowdedRanges.isEmpty ? [:] : try ctx.store.changeSeqs(crowdedRanges)
            // Each crowded hot room walked back from its newest seq, counting messages only
            // (a seq past the window counts as a message: it is not known to be a change).
            struct Walk {
                var kept: [(start: Int64, end: Int64)] = []
                var dropped: [(start: Int64, end: Int64)] = []   // (start, end]: what is left out
                var changes: [Int64: Int64] = [:]
                var keptMessages = 0
                var oldestKeptMessage: Int64?
            }
            var walks: [RoomID: Walk] = [:]
            for (room, owed) in crowded {
                let window = scanned[room] ?? []
                var w = Walk()
                w.changes = (changes[room] ?? [:]).filter { seq, _ in holds(window, seq) }
                var remaining = perRoom
                for stay in owed.reversed() {
                    var s = stay.end
                    while s > stay.start && remaining > 0 {
                        if w.changes[s] == nil {
                            remaining -= 1
                            w.oldestKeptMessage = s
                        }
                        s -= 1
                    }
                    if s < stay.end { w.kept.insert((s, stay.end), at: 0) }
                    if s > stay.start { w.dropped.insert((stay.start, s), at: 0) }
                }
                w.keptMessages = perRoom - remaining
                walks[room] = w
            }
            // The inbox part, each room keeping what its hot part left of `perRoom`.
            let inbox = leaveOutOfInbox(&items, changes: changes) { room in
                walks[room].map { perRoom - $0.keptMessages } ?? perRoom
            }
            for (room, before) in inbox.gaps { gaps[room] = before }
            for (room, w) in walks {
                func isDropped(_ seq: Int64) -> Bool { holds(w.dropped, seq) }
                let hotLeftOut = length(w.dropped) > Int64(w.changes.keys.lazy.filter(isDropped).count)
                let inboxDropped = inbox.dropped[room] ?? []
                // Nothing left out: the room is owed as it is.
                guard hotLeftOut || !inboxDropped.isEmpty else { continue }
                if hotLeftOut {
                    gaps[room] = w.kept[0].start + 1
                } else if gaps[room] == nil, let oldest = w.oldestKeptMessage {
                    gaps[room] = oldest   // the inbox part kept none of its messages
                }
                // A message is left out by this page in the hot part, or in the inbox part.
                func messageLeftOut(_ seq: Int64) -> Bool { isDropped(seq) || inboxDropped.contains(seq) }
                // The changes in the part left out whose message is not left out (the
                // device has it): of each message only its newest change (each carries the
                // message as it is now), each a range of one seq, in seq order before the
                // kept ones. At most the page's limit + 1 of them, and then not the kept
                // ones: the page reads at most `limit` bodies, so its last candidate makes it
                // say `has_more`, and the next pages go on from where it stopped.
                var newest: [Int64: Int64] = [:]   // message seq: its newest change's seq
                for (seq, target) in w.changes { newest[target] = max(newest[target] ?? seq, seq) }
                let wanted = newest.filter { target, seq in isDropped(seq) && !messageLeftOut(target) }.values.sorted()
                var roomRanges = wanted.prefix(limit + 1).map { (start: $0 - 1, end: $0) }
                if wanted.count <= limit + 1 { roomRanges += w.kept }
                // A change in what is kept whose message is left out: not delivered.
                for (seq, target) in w.changes where !isDropped(seq) && messageLeftOut(target) {
                    hiddenChanges.insert(MessageKey(room: room, seq: seq))
                }
                owedByRoom[room] = roomRanges   // never empty: the walk keeps the newest owed seq
            }
        }
        for (room, owed) in owedByRoom {
            positions[room] = owed[0].start
            // Every range of a room in seq order: the room's keys come back in that order,
            // and each range is read up to the page's limit, so the page cannot run past
            // a range read short (the room alone has more candidates than the page takes;
            // the changes passed over are not candidates, so each range reads that many more).
            ranges += owed.map { RoomRange(room: room, after: $0.start, through: $0.end) }
        }
        if !ranges.isEmpty {
            for (room, roomKeys) in try ctx.store.hotRoomKeys(ranges, limit: limit + 1 + hiddenChanges.count) {
                for key in roomKeys {
                    var item = Item(pos: key.pos, seq: key.seq, hotRoom: room, kind: .message, room: room, roomSeq: key.seq,
                                    payload: nil)
                    if hiddenChanges.contains(MessageKey(room: room, seq: key.seq)) { item.deliver = false }
                    items.append(item)
                }
            }
        }

        items = mergeByPosition(items)
        // The bodies the page may need, in one read: the messages among the first `limit`
        // events to deliver, and of those only as far as the byte budget can reach (the
        // store stops where the bodies alone pass it). A page needs no more unless some of
        // them were pruned (history retention shorter than offline retention): then it
        // ends early, with `has_more`, and continues exactly after its last event.
        var keys: [MessageKey] = []
        var toDeliver = 0
        for item in items where item.deliver {
            if toDeliver == limit { break }
            toDeliver += 1
            if item.isMessage, let room = item.room, let seq = item.roomSeq { keys.append(MessageKey(room: room, seq: seq)) }
        }
        let bodies = keys.isEmpty ? [] : try ctx.store.streamMessages(keys, maxCount: limit, maxBodyBytes: ctx.config.maxPageBytes,
                                                                                   viewer: user)
        var nextBody = 0
        // Take events in that order until `limit` or the byte budget.
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
                let event: Event?
                if !item.isMessage {
                    event = Event(kind: item.kind, room: item.room, message: nil,
                                  payload: item.payload.flatMap { try? JSONParser.parse($0) })
                } else if let room = item.room, item.roomSeq != nil {
                    // Beyond what the store read: the page cannot reach this message.
                    guard nextBody < bodies.count else {
                        hasMore = true
                        break
                    }
                    event = bodies[nextBody].map { Event(kind: EventKind($0.change), room: room, message: $0, payload: nil) }
                    nextBody += 1
                } else {
                    event = nil
                }
                if let e = event {
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
        // A departed room leaves the cursor once its range and its leave are delivered.
        for (room, d) in departedEnds where (positions[room] ?? d.end) >= d.end && inboxSeq >= d.leave { positions[room] = nil }
        let next = Cursor(user: user, inboxSeq: inboxSeq, hot: positions)
        return PullResult(events: events, cursor: next, hasMore: hasMore,
                          gaps: gaps.keys.sorted().map { (room: $0, beforeSeq: gaps[$0]!) })
    }

    /// About what an event adds to a page's JSON, without encoding it: the variable parts
    /// (a message's body is stored as the JSON text it is sent as) plus a fixed allowance
    /// for keys, ids and the timestamp. A budget, not an exact count.
    static func estimatedBytes(_ e: Event, storedPayload: String?) -> Int {
        if let m = e.message { return Messages.estimatedBytes(m) + 48 }
        return 96 + (storedPayload?.utf8.count ?? 0)
    }

    /// Seq ranges (start, end] of one room: how many seqs they hold, and whether `seq` is one.
    private static func length(_ ranges: [(start: Int64, end: Int64)]) -> Int64 { ranges.reduce(0) { $0 + ($1.end - $1.start) } }
    private static func holds(_ ranges: [(start: Int64, end: Int64)], _ seq: Int64) -> Bool {
        ranges.contains { seq > $0.start && seq <= $0.end }
    }

    /// The inbox part of a catch-up: the keys of up to `catchUpScanWindow` entries (no
    /// body is read here), and per room the number of its message rows among them and
    /// the range of their seqs (whose change rows `leaveOutOfInbox` needs where it may
    /// leave some out).
    private static func inboxCatchUpWindow(_ ctx: ReadContext, user: UserID, after: Int64, perRoom: Int) throws
        -> (items: [Item], rooms: [RoomID: (count: Int, range: RoomRange)], truncated: Bool) {
        // Rows exist only up to the head: the window's end need not wait for it.
        let upper = after + Int64(ctx.config.catchUpScanWindow)
        let window = try ctx.store.inboxWindow(user: user, after: after, through: upper)
        let head = window?.head ?? after
        let items = (window?.keys ?? []).map(Item.inbox)
        var rowsPerRoom: [RoomID: (count: Int, first: Int64, last: Int64)] = [:]
        for item in items where item.isMessage {
            guard let room = item.room, let seq = item.roomSeq else { continue }
            let r = rowsPerRoom[room]
            rowsPerRoom[room] = ((r?.count ?? 0) + 1, min(r?.first ?? seq, seq), max(r?.last ?? seq, seq))
        }
        var rooms: [RoomID: (count: Int, range: RoomRange)] = [:]
        for (room, r) in rowsPerRoom { rooms[room] = (r.count, RoomRange(room: room, after: r.first - 1, through: r.last)) }
        return (items, rooms, upper < head)
    }

    /// Marks all but the newest `perRoom` messages of each room of an inbox window as left
    /// out (every non-message event stays); returns the gap of each room left out of and
    /// the seqs left out.
    /// Changes (edits, recalls, reactions) are message rows in the inbox too, but not
    /// messages: they never count toward `perRoom`, and each is delivered unless this
    /// catch-up left out the message it changes (that one comes with the history, as it
    /// is now). `changes`: the change rows of the window's crowded rooms.
    private static func leaveOutOfInbox(_ items: inout [Item], changes: [RoomID: [Int64: Int64]],
                                        perRoom: (RoomID) -> Int)
        -> (gaps: [RoomID: Int64], dropped: [RoomID: Set<Int64>]) {
        // Walk backwards: keep the newest `perRoom` messages of each room.
        var keptPerRoom: [RoomID: Int] = [:]
        var oldestKept: [RoomID: Int64] = [:]
        var dropped = Set<RoomID>()
        var droppedSeqs: [RoomID: Set<Int64>] = [:]
        for i in items.indices.reversed() where items[i].isMessage {
            guard let room = items[i].room, let seq = items[i].roomSeq else { continue }
            if changes[room]?[seq] != nil { continue }
            let n = keptPerRoom[room, default: 0]
            if n < perRoom(room) {
                keptPerRoom[room] = n + 1
                oldestKept[room] = seq
            } else {
                items[i].deliver = false
                dropped.insert(room)
                droppedSeqs[room, default: []].insert(seq)
            }
        }
        for i in items.indices where items[i].isMessage {
            guard let room = items[i].room, let seq = items[i].roomSeq, let target = changes[room]?[seq] else { continue }
            if droppedSeqs[room]?.contains(target) == true { items[i].deliver = false }
        }
        var gaps: [RoomID: Int64] = [:]
        for room in dropped { if let s = oldestKept[room] { gaps[room] = s } }
        return (gaps, droppedSeqs)
    }
}
