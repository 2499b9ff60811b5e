import HTTPServer
import Synchronization
import SyncEngine

/// One `/v1/notify` WebSocket: tells the device "you have mail" with the newest
/// cursor, never the payload (a lost notification never loses a message: the
/// client pulls).
///
/// Coalescing: a notification goes out at once if the previous one was at least
/// `interval` ago and the socket has drained; otherwise one goes out later with the
/// latest cursor. A burst of commits thus costs a handful of frames, and a slow
/// reader never makes the server queue more than one.
///
/// Confinement: loop-thread only, except `latestSeq`/`wakeQueued` (atomics written by
/// the Notifier callback on the writer thread).
final class MailNotifier: WebSocketDelegate, @unchecked Sendable {
    private let user: UserID
    private let device: DeviceID
    private let notifier: Notifier
    private let interval: UInt64
    private let loop: EventLoop
    private var ws: WebSocket?
    private var subscription: Notifier.Subscription?
    private let db: any StoreReadConnection
    /// News from the writer thread, folded in on the loop.
    private let news = Mutex<(inbox: Int64, rooms: [RoomID: Int64], receipts: Set<RoomID>, recheck: Bool)>((-1, [:], [], false))
    /// Rooms whose read counts changed, still to announce (rate-limited at the source).
    private var receiptRooms: Set<RoomID> = []
    private let wakeQueued = Atomic<Bool>(false)
    /// The cursor of the newest news, and of the last notification sent.
    private var latest: Cursor
    private var sent: Cursor
    private var lastSentAt: UInt64 = 0
    private var timer: TimerToken?
    private var recheckTimer: TimerToken?

    init(user: UserID, device: DeviceID, notifier: Notifier, loop: EventLoop, db: any StoreReadConnection, interval: Duration) {
        self.user = user
        self.device = device
        self.notifier = notifier
        self.loop = loop
        self.db = db
        self.latest = Cursor(user: user, inboxSeq: 0)
        self.sent = latest
        let (s, atto) = interval.components
        self.interval = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }

    /// Call before reading the stream head: a commit between the two is then seen.
    func subscribe(rooms: Set<RoomID>) {
        subscription = notifier.subscribe(user, rooms: rooms) { [self] item in
            news.withLock { n in
                switch item {
                case .inbox(let seq): n.inbox = max(n.inbox, seq)
                case .room(let room, let seq): n.rooms[room] = max(n.rooms[room] ?? 0, seq)
                case .receipts(let room): n.receipts.insert(room)
                case .recheck: n.recheck = true
                case .revoked(let d):
                    // This socket's device lost its token: end the socket (1008, policy).
                    if d == device { loop.execute { [self] in ws?.close(.policyViolation) } }
                }
            }
            guard !wakeQueued.exchange(true, ordering: .acquiringAndReleasing) else { return }
            loop.execute { [self] in
                wakeQueued.store(false, ordering: .releasing)
                absorbNews()
                flush()
            }
        }
    }

    /// Announces the head the client starts from, then anything committed since.
    func start(_ ws: WebSocket, head: Cursor) {
        self.ws = ws
        latest = head
        sent = head
        ws.send(text: Self.frame("ready", head))
        absorbNews()
        flush()
    }

    /// Folds the writer's news into `latest`. Inbox news may mean the user joined or
    /// left a hot room: then the subscription's room set is refreshed.
    private func absorbNews() {
        let n = news.withLock { n -> (inbox: Int64, rooms: [RoomID: Int64], receipts: Set<RoomID>, recheck: Bool) in
            let taken = n
            n.rooms.removeAll()
            n.receipts.removeAll()
            n.recheck = false
            return taken
        }
        receiptRooms.formUnion(n.receipts)
        var hot = latest.hot
        for (room, seq) in n.rooms where hot[room] != nil { hot[room] = max(hot[room]!, seq) }
        var inbox = latest.inboxSeq
        if n.recheck {
            // News may have been missed, a revocation too.
            switch Result(catching: { () throws(SyncError) in try db.snapshot { try $0.deviceActive(device) } }) {
            case .success(true): break
            case .success(false):
                ws?.close(.policyViolation)
                return
            case .failure:
                retryRecheck()
                return
            }
        }
        if n.inbox > inbox || n.recheck {
            inbox = max(inbox, n.inbox)
            let head = try? db.snapshot({ try Stream.head($0, user: user) })
            if head == nil && n.recheck { retryRecheck() }
            if let current = head {
                if let subscription, Set(current.hot.keys) != Set(hot.keys) {
                    notifier.setRooms(subscription, Set(current.hot.keys))
                }
                hot = current.hot.merging(hot.filter { current.hot[$0.key] != nil }) { max($0, $1) }
                inbox = max(inbox, current.inboxSeq)
            }
        }
        latest = Cursor(user: user, inboxSeq: inbox, hot: hot)
    }

    /// The database could not be read for a recheck: keep it pending and try again soon
    /// (a socket must not miss what happened while the node was cut off).
    private func retryRecheck() {
        news.withLock { $0.recheck = true }
        guard recheckTimer == nil else { return }
        recheckTimer = loop.schedule(after: .seconds(1)) { [self] in
            recheckTimer = nil
            absorbNews()
            flush()
        }
    }

    func cancel() {
        if let subscription { notifier.unsubscribe(subscription) }
        subscription = nil
    }

    private func flush() {
        guard let ws, ws.isOpen, ws.bufferedBytes == 0 else { return }   // drained-callback retries
        // Take the rooms before sending: a send that drains at once re-enters flush()
        // through webSocketDidDrain, which must find them gone (else endless recursion).
        let rooms = receiptRooms.sorted()
        receiptRooms.removeAll()
        for room in rooms { ws.send(text: #"{"type":"receipts","room_id":\#(room.rawValue)}"#) }
        guard latest != sent else { return }
        let now = MonotonicClock.now()
        if now < lastSentAt &+ interval {
            if timer == nil {
                timer = loop.schedule(after: .nanoseconds(Int64(lastSentAt &+ interval &- now))) { [self] in
                    timer = nil
                    flush()
                }
            }
            return
        }
        sent = latest
        lastSentAt = now
        ws.send(text: Self.frame("mail", latest))
    }

    static func frame(_ type: String, _ cursor: Cursor) -> String {
        #"{"type":"\#(type)","cursor":"\#(cursor.encoded)"}"#
    }

    func webSocketDidDrain(_ ws: WebSocket) { flush() }

    func webSocketDidClose(_ ws: WebSocket) {
        cancel()
        if let timer { loop.cancel(timer) }
        if let recheckTimer { loop.cancel(recheckTimer) }
        self.ws = nil
    }
}

extension PigeonholeAPI {
    /// `GET /v1/notify`: authenticate (header, or `access_token` for browsers), then
    /// upgrade. A bad token is a plain 401, never an upgrade.
    func startNotify(_ input: RequestInput, _ responder: Responder, _ db: any StoreReadConnection) throws {
        let me = try authenticate(token: input.bearerToken ?? input.queryString("access_token"),
                                  address: input.request.remoteAddress, db)
        let acceptKey: String
        switch WebSocketHandshake.validate(input.request.head) {
        case .reject(let response): return responder.respond(response)
        case .accept(let key): acceptKey = key
        }
        let mail = MailNotifier(user: me.user, device: me.device, notifier: engine.notifier, loop: responder.loop, db: db,
                                interval: config.notifyCoalesceInterval)
        var wsConfig = WebSocketConfiguration()
        wsConfig.pingInterval = config.webSocketPingInterval
        let head: Cursor
        do {
            head = try engine.startNotify(db, user: me.user) { rooms in mail.subscribe(rooms: rooms) }.head
        } catch {
            mail.cancel()
            throw error
        }
        guard let ws = responder.upgradeToWebSocket(acceptKey: acceptKey, delegate: mail, configuration: wsConfig) else {
            return mail.cancel()
        }
        mail.start(ws, head: head)
    }
}
