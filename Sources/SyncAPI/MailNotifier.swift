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
    private let notifier: Notifier
    private let interval: UInt64
    private let loop: EventLoop
    private var ws: WebSocket?
    private var subscription: Notifier.Subscription?
    private let latestSeq = Atomic<Int64>(-1)
    private let wakeQueued = Atomic<Bool>(false)
    private var sentSeq: Int64 = -1
    private var lastSentAt: UInt64 = 0
    private var timer: TimerToken?

    init(user: UserID, notifier: Notifier, loop: EventLoop, interval: Duration) {
        self.user = user
        self.notifier = notifier
        self.loop = loop
        let (s, atto) = interval.components
        self.interval = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }

    /// Call before reading the stream head: a commit between the two is then seen.
    func subscribe() {
        subscription = notifier.subscribe(user) { [self] seq in
            var current = latestSeq.load(ordering: .relaxed)
            while seq > current {
                let (exchanged, now) = latestSeq.compareExchange(expected: current, desired: seq, ordering: .relaxed)
                if exchanged { break }
                current = now
            }
            guard !wakeQueued.exchange(true, ordering: .acquiringAndReleasing) else { return }
            loop.execute { [self] in
                wakeQueued.store(false, ordering: .releasing)
                flush()
            }
        }
    }

    /// Announces the head the client starts from, then anything committed since.
    func start(_ ws: WebSocket, head: Int64) {
        self.ws = ws
        sentSeq = head
        ws.send(text: Self.frame("ready", user: user, seq: head))
        flush()
    }

    func cancel() {
        if let subscription { notifier.unsubscribe(subscription) }
        subscription = nil
    }

    private func flush() {
        guard let ws, ws.isOpen else { return }
        let latest = latestSeq.load(ordering: .relaxed)
        guard latest > sentSeq, ws.bufferedBytes == 0 else { return }   // drained-callback retries
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
        sentSeq = latest
        lastSentAt = now
        ws.send(text: Self.frame("mail", user: user, seq: latest))
    }

    static func frame(_ type: String, user: UserID, seq: Int64) -> String {
        #"{"type":"\#(type)","cursor":"\#(Cursor(user: user, inboxSeq: seq).encoded)"}"#
    }

    func webSocketDidDrain(_ ws: WebSocket) { flush() }

    func webSocketDidClose(_ ws: WebSocket) {
        cancel()
        if let timer { loop.cancel(timer) }
        self.ws = nil
    }
}

extension PigeonholeAPI {
    /// `GET /v1/notify`: authenticate (header, or `access_token` for browsers), then
    /// upgrade. A bad token is a plain 401, never an upgrade.
    func startNotify(_ input: RequestInput, _ responder: Responder, _ db: Database) throws {
        let token = input.bearerToken ?? input.queryString("access_token")
        guard let token, let me = try engine.read(db, { try Accounts.authenticate($0.db, token: token) }) else {
            throw APIError.unauthorized
        }
        let acceptKey: String
        switch WebSocketHandshake.validate(input.request.head) {
        case .reject(let response): return responder.respond(response)
        case .accept(let key): acceptKey = key
        }
        let mail = MailNotifier(user: me.user, notifier: engine.notifier, loop: responder.loop,
                                interval: config.notifyCoalesceInterval)
        var wsConfig = WebSocketConfiguration()
        wsConfig.pingInterval = config.webSocketPingInterval
        mail.subscribe()
        let head: Cursor
        do {
            head = try engine.read(db) { try Stream.head($0.db, user: me.user) }
        } catch {
            mail.cancel()
            throw error
        }
        guard let ws = responder.upgradeToWebSocket(acceptKey: acceptKey, delegate: mail, configuration: wsConfig) else {
            return mail.cancel()
        }
        mail.start(ws, head: head.inboxSeq)
    }
}
