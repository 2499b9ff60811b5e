import Glibc
import Sockets

/// One client connection, owned by one loop (all methods run on that loop's thread).
///
/// Lifecycle:
///
///     readingHead ──head──> readingBody/readingChunked ──body──> awaiting ──respond──> readingHead
///          │                        │                              │
///          └──── bad bytes / limits / timeouts ──> 4xx, closing ───┴── client gone ──> closed
///                                                       └─ answer sent ──> lingering ──> closed
///     awaiting ──101 (`upgrade`)──> upgraded: input goes to the `UpgradeHandler` (a WebSocket)
///
/// Pipelined requests wait in `input` while one is `awaiting`, so responses go out in order.
///
/// Memory is bounded in every state: reading stops while `input` holds
/// `maxBufferedInput` unparsed bytes or `output` holds `maxPendingOutput` unsent ones,
/// and resumes when the request is answered or the client drains its responses.
/// Output that does not move for the write timeout closes the connection.
final class Connection: LoopRegistrant {
    /// Why an accepted connection only gets a 503 and is closed.
    enum Refusal { case serverFull, addressFull }

    enum State {
        case readingHead
        case readingBody(HTTPRequestHead, remaining: Int, body: [UInt8])
        case readingChunked(HTTPRequestHead, ChunkedDecoder, body: [UInt8])
        case awaiting(ResponseEncoder.Context)
        /// Switched protocols (`upgrade`): input goes to `upgradeHandler`.
        case upgraded
        case closing
        /// The last answer is out; what the client still sends is read and dropped
        /// until it closes (see `linger`).
        case lingering
        case closed
    }

    let fd: Int32
    let peer: String
    var token: UInt64 = 0
    unowned let context: LoopContext
    /// Over a connection cap: answer the first request with 503 and close.
    let refusal: Refusal?
    var refused: Bool { refusal != nil }

    var state: State = .readingHead
    var input: [UInt8] = []
    var inputStart = 0
    var parser: RequestHeadParser
    var output: [UInt8] = []
    var outputOffset = 0
    var writeInterest = false
    var processing = false
    /// Reading stopped at a buffer bound; the socket may hold more (edge-triggered: no
    /// new edge comes for it), so `resumeReading` reads on when there is room again.
    var readPaused = false
    var peerClosed = false
    /// `.peerShutdown` was seen: read to EOF, since no further edge will announce it.
    var peerHalfClosed = false
    var reading = false
    var rereadRequested = false
    /// Requests dispatched and WebSocket frames decoded in this turn (see `workPerTurn`),
    /// and whether the rest of the work is queued as a task of its own.
    var turnWork = 0
    var turnYielded = false
    /// When queued output last stopped moving (the socket would block); 0 when none is stuck.
    var writeStalledSince: UInt64 = 0
    var serial: UInt64 = 0
    var cancelHandlers: [() -> Void] = []
    /// The request being answered and when it was dispatched (for `requestCompleted`).
    /// The method only: a parked request (a long-poll) holds no copy of its head.
    var currentMethod: HTTPMethod?
    var currentLabel: String?
    var dispatchedAt: UInt64 = 0
    /// Set once the connection switched protocols (`upgrade`).
    var upgradeHandler: (any UpgradeHandler)?
    /// Monotonic deadline of the current phase (header read, body read or keep-alive idle).
    private(set) var deadline: UInt64
    private(set) var deadlineKind: DeadlineKind = .header

    enum DeadlineKind { case header, body, idle, linger, none }

    /// Lingering close: at most this long and this many discarded bytes.
    static let lingerTime: Duration = .seconds(2)
    static let lingerBytes = 1 << 20
    var lingerBudget = 0
    /// The connection is closing while the client may still be sending (an error before
    /// its body was read, unread pipelined input): close lingering (see `linger`). A
    /// finished exchange with nothing unread closes at once.
    var lingerOnClose = false

    /// Unparsed input held before reading stops (a head is at most `maxHeaderBytes`,
    /// a WebSocket frame a few KiB; one read can add up to the loop's 64 KiB buffer).
    static let maxBufferedInput = 64 * 1024
    /// Unsent output queued before reading and processing stop (one response may be
    /// larger; it is never cut, only nothing more is produced until it drains).
    static let maxPendingOutput = 1 << 20

    init(fd: Int32, peer: String, context: LoopContext, refusal: Refusal?) {
        self.fd = fd
        self.peer = peer
        self.context = context
        self.refusal = refusal
        self.parser = RequestHeadParser(maxHeaderBytes: context.config.maxHeaderBytes)
        // A new connection must deliver its first head within the header timeout.
        self.deadline = MonotonicClock.now() &+ context.config.headerTimeout.nanoseconds
    }

    var isClosed: Bool { if case .closed = state { return true } else { return false } }
    var isIdle: Bool {
        if case .readingHead = state { return inputStart == input.count && outputOffset == output.count }
        return false
    }

    func isAwaiting(serial s: UInt64) -> Bool {
        if case .awaiting = state { return s == serial }
        return false
    }

    func addCancelHandler(_ callback: @escaping () -> Void, serial s: UInt64) {
        guard isAwaiting(serial: s) else { return callback() }
        cancelHandlers.append(callback)
        // The client shut its side while the request was being looked at (before it
        // parked): a parked request of a client that is gone ends now, as it would have
        // had the end come a moment later (`handlePeerClosed`).
        if peerClosed { close() }
    }

    var pendingOutputBytes: Int { output.count - outputOffset }
    /// Unsent output at its bound: nothing more is produced (no request parsed, no frame
    /// processed) until the client takes some.
    var outputBackedUp: Bool { pendingOutputBytes >= Self.maxPendingOutput }

    /// Whether the buffers are at their bounds, so reading must wait.
    var mustStopReading: Bool { input.count - inputStart >= Self.maxBufferedInput || outputBackedUp }

    func setDeadline(_ kind: DeadlineKind, _ after: Duration) {
        deadlineKind = kind
        deadline = kind == .none ? 0 : MonotonicClock.now() &+ after.nanoseconds
    }
}
