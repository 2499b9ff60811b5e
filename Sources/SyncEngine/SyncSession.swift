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
    /// Set when the start found the cursor at the head of every stream (the inbox, each
    /// hot room the user is in):
    /// the Notifier's publication count read before the snapshot. A parked pull may
    /// skip its first query while the count has not moved (any later commit moves it).
    public let caughtUpAt: Int?

    /// The same device and hot rooms, from `cursor` (the re-poll of an answered pull).
    public func continued(at cursor: Cursor) -> PullStart {
        PullStart(me: me, from: cursor, hotRooms: hotRooms, caughtUpAt: nil)
    }
}

public enum PullStartOutcome: Sendable {
    case started(PullStart)
    /// Something was there: the start's snapshot read the page too (one read for a pull
    /// that is behind, not a start and then a query), to answer at once.
    case answered(PullStart, PullResult)
    /// The cursor is older than the retained window: start again from this first
    /// screen (read in the same answer, with its own fresh cursor).
    case expired(Principal, ConversationPage)
}

extension SyncEngine {
    /// Starts `GET /v1/sync`: one snapshot for the token, the cursor (or, without one,
    /// the device's acked cursor), the hot rooms to listen to and, for an expired cursor,
    /// the first screen to start again from. Presenting a cursor acks it (coalesced,
    /// written off the request's path). Completes with nil for an unknown or revoked
    /// token, or fails with `cursorRequired` (no cursor, never acked) or `invalidCursor`.
    /// With `page` (the pull's limits), a cursor not at the head has its page read in the
    /// same snapshot: `.answered` when it holds anything (or the pull may not wait).
    /// Runs on the store's read threads; `completion` runs there too.
    /// `tokenHash` is `SyncEngine.tokenHash(token)`, which the caller has already computed
    /// for the `PrincipalCache`.
    public func startPull(tokenHash hash: [UInt8]?, cursor text: String?, mayWait: Bool, page: PageLimits? = nil,
                          completion: @escaping @Sendable (Result<PullStartOutcome?, SyncError>) -> Void) {
        let publications = notifier.publications   // before the snapshot: see `PullStart.caughtUpAt`
        let generation = principals.generation
        read({ ctx in try Self.startPullRead(ctx, tokenHash: hash, cursor: text, mayWait: mayWait, page: page) }) { [self] result in
            // The token is now known (PrincipalCache): a re-poll may skip its read.
            if case .success(let read?) = result, let hash { principals.store(tokenHash: hash, read.me, generation: generation) }
            completion(result.flatMap { read in Result { () throws(SyncError) in try startPullDecided(read, publications) } })
        }
    }

    /// `startPull` on a connection of the caller's own (tests, admin commands).
    public func startPull(_ connection: any StoreReadConnection, token: String, cursor text: String?,
                          mayWait: Bool, page: PageLimits? = nil) throws(SyncError) -> PullStartOutcome? {
        let publications = notifier.publications
        let read = try self.read(connection) { ctx in
            try Self.startPullRead(ctx, tokenHash: Self.tokenHash(token), cursor: text, mayWait: mayWait, page: page)
        }
        return try startPullDecided(read, publications)
    }

    /// A pull's page limits (`limit`, `per_room_limit`).
    public struct PageLimits: Sendable {
        public let limit: Int
        public let perRoomLimit: Int?
        public init(limit: Int, perRoomLimit: Int?) {
            self.limit = limit
            self.perRoomLimit = perRoomLimit
        }
    }

    /// What the start's snapshot found.
    struct StartRead: Sendable {
        let me: Principal
        let from: Result<(Cursor, advance: Bool), SyncError>
        let hot: Set<RoomID>
        let caughtUp: Bool
        /// The page from the cursor, read in the same snapshot when it was not at the head.
        let page: PullResult?
        /// Read in the same snapshot when the cursor turned out expired.
        let firstScreen: ConversationPage?
    }

    static func startPullRead(_ ctx: ReadContext, tokenHash: [UInt8]?, cursor text: String?, mayWait: Bool,
                              page limits: PageLimits?) throws -> StartRead? {
        guard let tokenHash, let (me, state) = try ctx.store.principalForPull(tokenHash: tokenHash) else { return nil }
        let bounds = (head: state.inboxHead, floor: state.inboxFloor)
        do {
            let validated: (cursor: Cursor, inboxHead: Int64, hotRooms: Set<RoomID>?, hotCaughtUp: Bool)
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
            // At the head of every stream: the inbox's, and each hot room's (or there are
            // none). A parked pull then waits for news instead of querying first.
            let hotAtHead = c.hot.isEmpty ? hot.isEmpty : validated.hotCaughtUp && Set(c.hot.keys) == hot
            let atHead = hotAtHead && c.inboxSeq == state.inboxHead
            var caughtUp = text != nil && mayWait && atHead
            // Behind (or not waiting): the page now, in this snapshot. A caught-up one is as
            // good as being at the head.
            var page: PullResult? = nil
            if let limits, !caughtUp, !(atHead && mayWait) {
                let read = try Stream.pull(ctx, user: me.user, after: c, limit: limits.limit, perRoomLimit: limits.perRoomLimit)
                if read.caughtUp && mayWait { caughtUp = true } else { page = read }
            }
            return StartRead(me: me, from: .success((c, advance)), hot: hot, caughtUp: caughtUp, page: page, firstScreen: nil)
        } catch SyncError.cursorExpired {
            let screen = try Conversations.list(ctx, me: me.user, limit: ctx.config.defaultConversationLimit, preview: 3, page: nil)
            return StartRead(me: me, from: .failure(.cursorExpired), hot: [], caughtUp: false, page: nil, firstScreen: screen)
        } catch let e as SyncError {
            return StartRead(me: me, from: .failure(e), hot: [], caughtUp: false, page: nil, firstScreen: nil)
        }
    }

    private func startPullDecided(_ read: StartRead?, _ publications: Int) throws(SyncError) -> PullStartOutcome? {
        guard let read else { return nil }
        switch read.from {
        case .failure(.cursorExpired):
            guard let screen = read.firstScreen else { throw .cursorExpired }
            return .expired(read.me, screen)
        case .failure(let e):
            throw e
        case .success(let (cursor, advance)):
            if advance { ackLater(device: read.me.device, cursor: cursor) }
            let start = PullStart(me: read.me, from: cursor, hotRooms: read.hot, caughtUpAt: read.caughtUp ? publications : nil)
            if let page = read.page { return .answered(start, page) }
            return .started(start)
        }
    }

    /// One pull from `start.from`: events in commit order, at most `limit` (and the
    /// page byte budget), with the next cursor. With `checkDevice`, the same snapshot
    /// first checks that the device is still active (after news may have been missed):
    /// nil if it is not.
    public static func pull(_ ctx: ReadContext, _ start: PullStart, limit: Int, perRoomLimit: Int?,
                            checkDevice: Bool) throws -> PullResult? {
        if checkDevice, try !ctx.store.deviceActive(start.me.device) { return nil }
        return try Stream.pull(ctx, user: start.me.user, after: start.from, limit: limit, perRoomLimit: perRoomLimit)
    }

    /// `pull` on a connection of the caller's own (tests).
    public func pull(_ connection: any StoreReadConnection, _ start: PullStart, limit: Int,
                     perRoomLimit: Int?) throws(SyncError) -> PullResult {
        try read(connection) { try Stream.pull($0, user: start.me.user, after: start.from, limit: limit, perRoomLimit: perRoomLimit) }
    }

    /// The hot rooms `user` is in (a `/v1/notify` socket subscribes to them before it
    /// reads the head of the stream, so no wake-up is lost).
    public func hotRooms(of user: UserID, completion: @escaping @Sendable (Result<Set<RoomID>, SyncError>) -> Void) {
        read({ try Stream.hotRooms($0.store, user: user) }, completion: completion)
    }

    /// The head of `user`'s stream (the cursor a `/v1/notify` socket announces); with
    /// `checkDevice`, nil when that device is no longer active.
    public func head(of user: UserID, checkDevice: DeviceID? = nil,
                     completion: @escaping @Sendable (Result<Cursor?, SyncError>) -> Void) {
        read({ ctx in
            if let checkDevice, try !ctx.store.deviceActive(checkDevice) { return nil }
            return try Stream.head(ctx.store, user: user)
        }, completion: completion)
    }
}
