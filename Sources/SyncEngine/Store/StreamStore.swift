// A user's stream (inbox and hot rooms), cursors and acks.
//
// A pull selects keys first (inbox rows without message bodies, hot-room seqs without
// bodies), the domain decides what the page keeps, and only then fetches the bodies
// of the messages it keeps, one keyed lookup each: a catch-up over thousands of
// large messages reads the bodies of one page, not of its whole window. A backend
// keeps that split: the key scans below must not read message bodies.

public protocol StreamReads {
    /// The hot rooms `user` is a member of now (`departed` false), ascending by room id.
    /// `floor` is the later of the user's join seq and the seq at which the room turned
    /// hot (0 if it was always hot); `lastSeq` is the room's last seq.
    func hotMemberships(user: UserID) throws -> [Stream.HotMembership]

    /// The hot rooms `user` has left whose range is still owed to cursors naming them
    /// (`departed` true), ascending by room id: `lastSeq` is the room seq of the leave.
    /// A room may appear here and in `hotMemberships` (left, then joined again).
    func hotDepartures(user: UserID) throws -> [Stream.HotMembership]

    /// The user's inbox head (the seq of their newest inbox row, `users.inbox_seq`);
    /// nil if the user does not exist.
    func inboxHead(user: UserID) throws -> Int64?

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

    /// Keys of all the user's inbox rows with `after` < seq <= `through`, ascending by
    /// seq (a catch-up window: the caller bounds its size).
    func inboxKeys(user: UserID, after: Int64, through: Int64) throws -> [Stream.InboxKey]

    /// Keys of the messages of hot room `room` with `after` < seq <= `through`,
    /// ascending by seq, at most `limit`: from the (room, seq) index alone, no bodies.
    func hotRoomKeys(room: RoomID, after: Int64, through: Int64, limit: Int) throws -> [Stream.RoomKey]

    /// The message `seq` of `room` with its body, by the unique (room, seq) key; nil if
    /// it was pruned.
    func streamMessage(room: RoomID, seq: Int64) throws -> Message?
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
        /// A room the user left: only (floor, lastSeq = left_seq] remains, and only for
        /// cursors that still name the room.
        public let departed: Bool

        /// Memberwise (public: backends construct it).
        public init(room: RoomID, floor: Int64, lastSeq: Int64, departed: Bool) {
            self.room = room
            self.floor = floor
            self.lastSeq = lastSeq
            self.departed = departed
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
