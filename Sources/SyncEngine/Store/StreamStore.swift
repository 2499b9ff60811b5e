// A user's stream (inbox and hot rooms), cursors and acks.
//
// A pull selects keys first (inbox rows without message bodies, hot-room seqs without
// bodies), the domain decides what the page may keep, and only then fetches the bodies
// of those messages: a catch-up over thousands of large messages reads the bodies of
// one page, not of its whole window. A backend keeps that split: the key scans below
// must not read message bodies.
//
// Every read here is set-based: one call covers all of a pull's hot rooms or all of a
// page's messages, so a pull costs a fixed number of statements whatever the number
// of events, rooms or hot rooms it carries (a backend with round trips runs each call
// as one statement; SQLite, in-process, may loop one prepared statement).

public protocol StreamReads {
    /// In one read: the hot rooms `user` is a member of now (`departed` false), ascending
    /// by room id, then, with `departuresAfter` (an inbox seq; nil: none), the stays in
    /// hot rooms they have left (`departed` true) whose leave's inbox event is after it
    /// (0: all; a departure recorded before the leave's seq was kept, 0, always comes).
    /// For a current membership `floor` is the later of the user's join seq and the seq
    /// at which the room turned hot (0 if it was always hot) and `lastSeq` the room's last
    /// seq; for a departure, `lastSeq` is the room seq of the leave. A room may appear in
    /// both parts (left, then joined again; one departure per stay). Each carries the
    /// room's history floor.
    func hotMemberships(user: UserID, departuresAfter: Int64?) throws -> [Stream.HotMembership]

    /// The user's inbox head (the seq of their newest inbox row, `users.inbox_seq`);
    /// nil if the user does not exist.
    func inboxHead(user: UserID) throws -> Int64?

    /// Of `users` (each with an inbox seq), those who are members of `room` now and whose
    /// inbox head is still that seq: one read for the pulls a hot room's message woke on
    /// a node of several (nothing left them the room or wrote to their inbox since their
    /// cursor, so the message alone is their page).
    func membersAtInboxHead(room: RoomID, users: [UserID: Int64]) throws -> Set<UserID>

    /// The head of the user's stream in one read: `inboxHead` and the hot rooms they are
    /// a member of now (`hotMemberships` without departures); nil if the user does not
    /// exist.
    func streamHead(user: UserID) throws -> (inboxHead: Int64, hot: [Stream.HotMembership])?

    /// The user's inbox head and floor (below the floor, rows were pruned by offline
    /// retention), read together; nil if the user does not exist.
    func inboxBounds(user: UserID) throws -> (head: Int64, floor: Int64)?

    /// The oldest seq of `room` still kept by history retention (0: nothing pruned);
    /// nil if the room does not exist.
    func historyFloor(room: RoomID) throws -> Int64?

    /// The device's stored ack (its inbox seq and cursor text); nil if the device does
    /// not exist.
    func storedAck(device: DeviceID) throws -> Stream.StoredAck?

    /// Keys of the user's inbox rows with seq > `after`, ascending by seq, at most
    /// `limit` of them.
    func inboxKeys(user: UserID, after: Int64, limit: Int) throws -> [Stream.InboxKey]

    /// The keys of the inbox rows at exactly these positions (user: inbox seq), in one
    /// read: what another node's news names (`RemoteEvents`). A user whose row at that
    /// seq is not there (pruned, or never written) is absent from the result.
    func inboxKeys(at positions: [UserID: Int64]) throws -> [UserID: Stream.InboxKey]

    /// A catch-up window in one read: the user's inbox head, and the keys of all their
    /// inbox rows with `after` < seq <= `through`, ascending by seq (the caller bounds
    /// the window's size); nil if the user does not exist.
    func inboxWindow(user: UserID, after: Int64, through: Int64) throws -> (head: Int64, keys: [Stream.InboxKey])?

    /// For each range, the keys of the messages of its hot room with `after` < seq <=
    /// `through`, ascending by seq, at most `limit` per range: from the (room, seq) index
    /// alone, no bodies. A room may have several disjoint ranges (one per stay of its
    /// member): its keys come back in seq order across them. Rooms without such messages
    /// are absent from the result. All ranges in one read.
    func hotRoomKeys(_ ranges: [Stream.RoomRange], limit: Int) throws -> [RoomID: [Stream.RoomKey]]

    /// The change rows (an edit, a recall, a reactions row: not a message) in each range,
    /// each with the seq of the message it changes, from the partial index on them; rooms
    /// without any are absent. A catch-up counts messages only toward its per-room limit,
    /// and delivers a change unless it left out the message changed. All ranges in one
    /// read.
    func changeSeqs(_ ranges: [Stream.RoomRange]) throws -> [RoomID: [Int64: Int64]]

    /// The messages at `keys` (each by the unique (room, seq) key) with their bodies, in
    /// the order of `keys`: element i is the message at `keys[i]`, or nil if it was
    /// pruned. All in one read, and only as far as a page can reach: the result stops
    /// (is shorter than `keys`) before the first key where `maxCount` messages were
    /// already found before it, or the bodies of those found before it (UTF-8 bytes)
    /// add up to more than `maxBodyBytes`. A page adds at least a message's body bytes
    /// per message, so one with those bounds ends at or before that key; its body and
    /// those after it are not read. A key of a change row yields the message it changes,
    /// as it is now, with `change` set (nil if that message was pruned, or is neither
    /// above the viewer's join nor within one of their past stays, `past_stays`: a change
    /// never shows what was said before they joined or while they were away); every
    /// message is rendered for `viewer`.
    func streamMessages(_ keys: [Stream.MessageKey], maxCount: Int, maxBodyBytes: Int, viewer: UserID) throws -> [Message?]
}

public protocol StreamWrites {
    /// Stores `cursor` as the device's acked cursor (and its inbox seq, for the
    /// forward-only comparison) and marks the device seen at `now`. The caller has
    /// decided that the ack moves forward, under this unit of work: a backend with
    /// several writers locks the device row for the read (`storedAck`) and this write.
    func storeAck(device: DeviceID, cursor: Cursor, now: Int64) throws

    /// Acks for several devices (each at most once) in one operation: each device's row
    /// is locked, its stored ack read and, if `cursor` moves it forward
    /// (`Stream.ackMoves`), replaced (`storeAck`). Returns per device whether it moved,
    /// nil for a device that does not exist. The default implementation below composes
    /// `storedAck` and `storeAck` per device, in device id order.
    func advanceAcks(_ acks: [(device: DeviceID, cursor: Cursor)], now: Int64) throws -> [DeviceID: Bool?]
}

extension StreamWrites where Self: StoreWriter {
    public func advanceAcks(_ acks: [(device: DeviceID, cursor: Cursor)], now: Int64) throws -> [DeviceID: Bool?] {
        var out: [DeviceID: Bool?] = [:]
        for (device, cursor) in acks.sorted(by: { $0.device.rawValue < $1.device.rawValue }) {
            guard let acked = try storedAck(device: device) else {
                out[device] = .some(nil)
                continue
            }
            let moves = Stream.ackMoves(from: acked.seq, acked.cursor, to: cursor)
            if moves { try storeAck(device: device, cursor: cursor, now: now) }
            out[device] = moves
        }
        return out
    }
}

extension Stream {
    /// A hot room the user is in: deliverable messages are those above `floor` (the
    /// later of the user's join and the room turning hot; below it they came through
    /// the inbox or are not the user's to see).
    public struct HotMembership: Sendable {
        public let room: RoomID
        public let floor: Int64
        public let lastSeq: Int64
        /// A stay in a room that ended (the user left; they may be back in it since, as
        /// another membership): only (floor, lastSeq = left_seq] remains, for a cursor
        /// that names the room below left_seq or has not seen the leave
        /// (`leftInboxSeq`).
        public let departed: Bool
        /// A departure's: the inbox seq of the leave's `member` event (0: not known, for
        /// departures recorded before it was; then only cursors naming the room get it).
        public let leftInboxSeq: Int64
        /// The room's history floor (the oldest seq history retention keeps; 0: nothing
        /// pruned). Read with the membership, looked at only after it (a cursor naming a
        /// room that is not the user's is refused before).
        public let historyFloor: Int64

        /// Memberwise (public: backends construct it).
        public init(room: RoomID, floor: Int64, lastSeq: Int64, departed: Bool, historyFloor: Int64, leftInboxSeq: Int64 = 0) {
            self.room = room
            self.floor = floor
            self.lastSeq = lastSeq
            self.departed = departed
            self.leftInboxSeq = leftInboxSeq
            self.historyFloor = historyFloor
        }
    }

    /// A hot room's range for a key scan: seqs in (`after`, `through`].
    public struct RoomRange: Sendable {
        public let room: RoomID
        public let after: Int64
        public let through: Int64

        public init(room: RoomID, after: Int64, through: Int64) {
            self.room = room
            self.after = after
            self.through = through
        }
    }

    /// A message's stream key: its room and room seq.
    public struct MessageKey: Sendable, Hashable {
        public let room: RoomID
        public let seq: Int64

        public init(room: RoomID, seq: Int64) {
            self.room = room
            self.seq = seq
        }
    }

    /// One inbox row without a message body: the key of a pull candidate.
    public struct InboxKey: Sendable {
        /// The user's inbox seq.
        public let seq: Int64
        public let kind: EventKind
        public let room: RoomID?
        public let roomSeq: Int64?
        /// The commit position: inbox rows and hot-room messages interleave by it.
        public let pos: Int64
        /// Extra fields of a non-message event, as stored (JSON text).
        public let payload: String?

        /// Memberwise (public: backends construct it).
        public init(seq: Int64, kind: EventKind, room: RoomID?, roomSeq: Int64?, pos: Int64, payload: String?) {
            self.seq = seq
            self.kind = kind
            self.room = room
            self.roomSeq = roomSeq
            self.pos = pos
            self.payload = payload
        }
    }

    /// One message of a hot room without its body: its commit position (the message
    /// id) and room seq.
    public struct RoomKey: Sendable {
        public let pos: Int64
        public let seq: Int64

        /// Memberwise (public: backends construct it).
        public init(pos: Int64, seq: Int64) {
            self.pos = pos
            self.seq = seq
        }
    }

    /// A device's stored ack: the inbox seq of its acked cursor and the cursor's text
    /// (nil: never acked).
    public struct StoredAck: Sendable {
        public let seq: Int64
        public let cursor: String?

        /// Memberwise (public: backends construct it).
        public init(seq: Int64, cursor: String?) {
            self.seq = seq
            self.cursor = cursor
        }
    }
}
