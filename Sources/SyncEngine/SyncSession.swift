/// The sync operations a transport drives: starting a pull (authenticate, the cursor
/// or the device's ack, the ack rule, cursor-required and expired, caught-up), the
/// pull itself, and starting a `/v1/notify` socket. The transport (SyncAPI) only
/// validates its parameters first, then parks, wakes and encodes.
public struct PullStart: Sendable {
    public let me: Principal
    /// Where the pull reads from (validated; hot rooms at their positions).
    public let from: Cursor
    /// The hot rooms whose messages wake this pull while parked (the user's hot
    /// memberships, read once per start: by the cursor's validation or just after it).
    public let hotRooms: Set<RoomID>
    /// Set when the start found the cursor at the head of a stream without hot rooms:
    /// the Notifier's publication count read before the snapshot. A parked pull may
    /// skip its first query while the count has not moved (any later commit moves it).
    public let caughtUpAt: Int?
}

public enum PullStartOutcome: Sendable {
    case started(PullStart)
    /// The cursor is older than the retained window: start again from this first
    /// screen (read in the same answer, with its own fresh cursor).
    case expired(Principal, ConversationPage)
}

extension SyncEngine {
    /// Starts `GET /v1/sync`: one snapshot for the token, the cursor (or, without one,
    /// the device's acked cursor) and the hot rooms to listen to. Presenting a cursor
    /// acks it (coalesced, written off the request's path). Returns nil for an unknown
    /// or revoked token. Throws `cursorRequired` (no cursor, never acked) and
    /// `invalidCursor`.
    public func startPull(_ connection: any StoreReadConnection, token: String, cursor text: String?,
                          mayWait: Bool) throws(SyncError) -> PullStartOutcome? {
        typealias Read = (me: Principal, from: Result<(Cursor, advance: Bool), SyncError>, hot: Set<RoomID>, caughtUp: Bool)
        let publications = notifier.publications   // before the snapshot: see `PullStart.caughtUpAt`
        let read: Read? = try self.read(connection) { ctx -> Read? in
            guard let (me, state) = try Accounts.authenticateForPull(ctx.store, token: token) else { return nil }
            let bounds = (head: state.inboxHead, floor: state.inboxFloor)
            do {
                let validated: (cursor: Cursor, inboxHead: Int64, hotRooms: Set<RoomID>?)
                let advance: Bool
                if let text {
                    validated = try Stream.validateWithHead(ctx.store, cursor: text, user: me.user, bounds: bounds)
                    advance = Stream.ackMoves(from: state.ackedSeq, state.ackedCursor, to: validated.cursor)
                } else {
                    guard let acked = state.ackedCursor else { throw SyncError.cursorRequired }
                    validated = try Stream.validateWithHead(ctx.store, cursor: acked, user: me.user, bounds: bounds)
                    advance = false
                }
                // The hot rooms that wake a parked pull: those the user is in now (a cursor
                // may not name one joined since). Read once: by the validation when the
                // cursor names hot rooms, else here.
                var hot: Set<RoomID> = []
                if mayWait { hot = try validated.hotRooms ?? Stream.hotRooms(ctx.store, user: me.user) }
                let c = validated.cursor
                let caughtUp = text != nil && hot.isEmpty && c.hot.isEmpty && c.inboxSeq == state.inboxHead
                return (me, .success((c, advance)), hot, caughtUp)
            } catch let e as SyncError {
                return (me, .failure(e), [], false)
            }
        }
        guard let read else { return nil }
        switch read.from {
        case .failure(.cursorExpired):
            return .expired(read.me, try firstScreen(connection, me: read.me.user))
        case .failure(let e):
            throw e
        case .success(let (cursor, advance)):
            if advance { ackLater(device: read.me.device, cursor: cursor) }
            return .started(PullStart(me: read.me, from: cursor, hotRooms: read.hot,
                                      caughtUpAt: read.caughtUp ? publications : nil))
        }
    }

    /// One pull from `start.from`: events in commit order, at most `limit` (and the
    /// page byte budget), with the next cursor.
    public func pull(_ connection: any StoreReadConnection, _ start: PullStart, limit: Int,
                     perRoomLimit: Int?) throws(SyncError) -> PullResult {
        try read(connection) { try Stream.pull($0, user: start.me.user, after: start.from, limit: limit, perRoomLimit: perRoomLimit) }
    }

    /// The first screen a `410 cursor_expired` carries: the default conversation page
    /// with 3 previews each, and its cursor.
    public func firstScreen(_ connection: any StoreReadConnection, me: UserID) throws(SyncError) -> ConversationPage {
        try read(connection) { try Conversations.list($0, me: me, limit: config.defaultConversationLimit, preview: 3, page: nil) }
    }

    /// Starts a `/v1/notify` socket without a lost wake-up: reads the user's hot rooms,
    /// lets the caller `subscribe` to them (and to the user's stream), and only then
    /// reads the head of the stream for the socket's first `ready` frame, so any commit
    /// the head misses wakes the subscription. If the head cannot be read, the caller
    /// must drop the subscription (the error is thrown after `subscribe` ran).
    public func startNotify<S>(_ connection: any StoreReadConnection, user: UserID,
                               subscribe: (Set<RoomID>) -> S) throws(SyncError) -> (subscription: S, head: Cursor) {
        let rooms = try read(connection) { try Stream.hotRooms($0.store, user: user) }
        let subscription = subscribe(rooms)
        return (subscription, try read(connection) { try Stream.head($0.store, user: user) })
    }
}
