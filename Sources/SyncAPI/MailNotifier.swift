import HTTPServer
import Synchronization
import SyncEngine
import Sockets
import WebSocket

/// One `/v1/notify` WebSocket: tells the device "you have mail" with the newest
/// cursor, never the payload (a lost notification never loses a message: the
/// client pulls).
///
/// Coalescing: a notification goes out at once if the previous one was at least
/// `interval` ago and the socket has drained; otherwise one goes out later with the
/// latest cursor. A burst of commits thus costs a handful of frames, and a slow
/// reader never makes the server queue more than one.
///
/// Confinement: loop-thread only. The subscription's lane is the socket's loop, and
/// the head reads (off the loop, on the store's read threads) hop back to it.
final class MailNotifier: WebSocketDelegate, @unchecked Sendable {
    private let user: UserID
    private let device: DeviceID
    private let engine: SyncEngine
    private var notifier: Notifier { engine.notifier }
    private let interval: UInt64
    private let loop: EventLoop
    private let lane: Notifier.Lane?
    private var ws: WebSocket?
    private var subscription: Notifier.Subscription?
    /// News not yet folded into `latest`: inbox rows that may change the hot rooms (a
    /// join, a leave: the head is read again), inbox rows known to be messages or read
    /// markers (they change nothing else: no read), hot rooms, a recheck.
    private var news: (inbox: Int64, messages: Int64, rooms: [RoomID: Int64], recheck: Bool) = (-1, -1, [:], false)
    /// The message news since `latest` was last exact, when it is one message and nothing
    /// else: what `PullOffers` can be told (boxed: an idle socket holds one pointer, not a
    /// message). `otherNews`: anything that moves the stream.
    private var offerable: MessageNews?
    private var otherNews = false
    private let offers: PullOffers
    /// Withdraws this user's offer once it has lived its lifetime (`PullOffers`).
    private var offerTimer: TimerToken?
    /// Rooms whose read counts changed, still to announce (rate-limited at the source).
    private var receiptRooms: Set<RoomID> = []
    /// A head read is under way (at most one at a time; news meanwhile waits for it).
    private var reading = false
    /// The cursor of the newest news, and of the last notification sent.
    private var latest: Cursor
    private var sent: Cursor
    /// The inbox seq the last head read saw (messages since may have moved `latest` on).
    private var headInbox: Int64 = 0
    private var lastSentAt: UInt64 = 0
    private var timer: TimerToken?
    private var retryTimer: TimerToken?
    /// This socket's place among its device's waits (`DeviceWaits`), and the registry.
    private var waitID: UInt64?
    private var waits: DeviceWaits?

    init(user: UserID, device: DeviceID, engine: SyncEngine, loop: EventLoop, lane: Notifier.Lane?, interval: Duration,
         offers: PullOffers) {
        self.offers = offers
        self.user = user
        self.device = device
        self.engine = engine
        self.loop = loop
        self.lane = lane
        self.latest = Cursor(user: user, inboxSeq: 0)
        self.sent = latest
        let (s, atto) = interval.components
        self.interval = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }

    /// Call before reading the stream head: a commit between the two is then seen.
    func subscribe(rooms: Set<RoomID>) {
        subscription = notifier.subscribe(user, rooms: rooms, lane: lane) { [self] item in
            if loop.isCurrent { receive(item) } else { loop.execute { [self] in receive(item) } }
        }
    }

    private func receive(_ item: Notifier.News) {
        switch item {
        case .inboxEvent(let seq, _) where seq == max(latest.inboxSeq, news.messages, news.inbox, headInbox) + 1:
            // A read marker's row, the very next: it moves the stream but changes no hot
            // room, so, as a message, no head read (and no offer: not a message).
            news.messages = max(news.messages, seq)
            otherNews = true
        case .inbox(let seq, nil), .inboxEvent(let seq, _):
            news.inbox = max(news.inbox, seq)
            otherNews = true
        case .inbox(let seq, let message?) where seq == max(latest.inboxSeq, news.messages, news.inbox, headInbox) + 1:
            // The message is the very next row: nothing else (a join, a leave) came
            // between. News merged on its way from another node can skip rows (a join and
            // a message in one batch name only the message's seq): that is read below.
            news.messages = max(news.messages, seq)
            if offerable == nil { offerable = MessageNews(seq: seq, message: message) } else { otherNews = true }
        case .inbox(let seq, _?):
            news.inbox = max(news.inbox, seq)
            otherNews = true
        case .room(let room, let seq, _):
            news.rooms[room] = max(news.rooms[room] ?? 0, seq)
            otherNews = true
        case .receipts(let room): receiptRooms.insert(room)
        case .recheck:
            news.recheck = true
            otherNews = true
        case .revoked(let d):
            // This socket's device lost its token: end the socket (1008, policy).
            if d == device { ws?.close(.policyViolation) }
            return
        }
        absorbNews()
        flush()
    }

    /// Announces the head the client starts from, then anything committed since. Over
    /// the device's cap of waits, its oldest one ends.
    func start(_ ws: WebSocket, head: Cursor, waits: DeviceWaits) {
        self.ws = ws
        self.waits = waits
        let loop = self.loop
        waitID = waits.add(device) { [self] in loop.execute { [self] in self.ws?.close(.policyViolation) } }
        latest = head
        headInbox = head.inboxSeq
        sent = head
        ws.send(text: Self.frame("ready", head))
        absorbNews()
        flush()
    }

    /// Folds the news into `latest`. Hot-room news moves that room's position. Inbox
    /// news may mean the user joined or left a hot room: the head is read again (off the
    /// loop) and the subscription's room set refreshed; a recheck also checks that the
    /// device is still active. The inbox news waits for that read, so one frame carries
    /// both.
    private func absorbNews() {
        guard ws != nil else { return }
        let before = latest
        var hot = latest.hot
        for (room, seq) in news.rooms where hot[room] != nil { hot[room] = max(hot[room]!, seq) }
        news.rooms.removeAll()
        latest = Cursor(user: user, inboxSeq: max(latest.inboxSeq, news.messages), hot: hot)
        news.messages = -1
        offer(from: before)
        guard !reading, news.inbox > headInbox || news.recheck else { return }
        let inbox = news.inbox
        let recheck = news.recheck
        news.inbox = -1
        news.recheck = false
        reading = true
        let loop = self.loop
        engine.head(of: user, checkDevice: recheck ? device : nil) { [self] result in
            loop.execute { [self] in headRead(result, inbox: inbox, recheck: recheck) }
        }
    }

    private func headRead(_ result: Result<Cursor?, SyncError>, inbox: Int64, recheck: Bool) {
        reading = false
        guard ws != nil else { return }
        var hot = latest.hot
        var newInbox = max(latest.inboxSeq, inbox)
        switch result {
        case .success(nil):
            ws?.close(.policyViolation)   // the recheck found the device revoked
            return
        case .success(let current?):
            if let subscription, Set(current.hot.keys) != Set(hot.keys) {
                notifier.setRooms(subscription, Set(current.hot.keys))
            }
            hot = current.hot.merging(hot.filter { current.hot[$0.key] != nil }) { max($0, $1) }
            newInbox = max(newInbox, current.inboxSeq)
            headInbox = max(headInbox, current.inboxSeq, inbox)
        case .failure:
            // Read again soon: until then a join's hot room is not listened to.
            news.inbox = max(news.inbox, inbox)
            if recheck { news.recheck = true }
            retryHead()
        }
        latest = Cursor(user: user, inboxSeq: newInbox, hot: hot)
        absorbNews()   // news that came while reading
        flush()
    }

    /// Tells `PullOffers` the page from `before` when one message is all that happened
    /// since and `before` was exact (no head read under way or due); otherwise withdraws.
    private func offer(from before: Cursor) {
        defer {
            offerable = nil
            otherNews = false
        }
        guard let one = offerable else {
            if otherNews { offers.withdraw(user) }
            return
        }
        if !otherNews, !reading, !news.recheck, news.inbox <= headInbox, one.seq == before.inboxSeq + 1,
           latest.inboxSeq == one.seq, latest.hot == before.hot {
            offers.post(user, PullOffers.Offer(from: before, to: latest, message: one.message))
            if offerTimer == nil { expireOffer(after: .nanoseconds(Int64(offers.lifetimeNanos))) }
        } else {
            offers.withdraw(user)
        }
    }

    private func expireOffer(after delay: Duration) {
        offerTimer = loop.schedule(after: delay) { [self] in
            offerTimer = nil
            if let left = offers.expire(user) { expireOffer(after: left) }
        }
    }

    /// The database could not be read for the head (or a recheck): keep it pending and try
    /// again soon (a socket must not miss a hot room it joined, or what happened while the
    /// node was cut off). The pending news stays in `news` until a read succeeds.
    private func retryHead() {
        guard retryTimer == nil else { return }
        retryTimer = loop.schedule(after: .seconds(1)) { [self] in
            retryTimer = nil
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
        offers.withdraw(user)
        if let waitID { waits?.remove(device, waitID) }
        waitID = nil
        if let timer { loop.cancel(timer) }
        if let retryTimer { loop.cancel(retryTimer) }
        if let offerTimer { loop.cancel(offerTimer) }
        self.ws = nil
    }
}

/// A message's news held by a socket until it is folded in (`MailNotifier.offerable`).
private final class MessageNews {
    let seq: Int64
    let message: Message
    init(seq: Int64, message: Message) {
        self.seq = seq
        self.message = message
    }
}
