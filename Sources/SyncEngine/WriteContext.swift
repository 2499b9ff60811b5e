import Dispatch
import Glibc
import Synchronization

/// What a write command gets: the writer's connection, the commit's clock reading,
/// and the list of inboxes to wake once the batch is durable.
/// Confined to the writer thread for the duration of one command.
public final class WriteContext {
    public let store: any StoreWriter
    public let now: Int64
    public let config: EngineConfiguration
    var wakes: [UserID: Int64] = [:]
    var roomWakes: [RoomID: Int64] = [:]
    /// The messages at exactly the woken seqs, where known (`Notifier.Events`).
    var wakeEvents = Notifier.Events()
    var receiptWakes: [UserID: Set<RoomID>] = [:]
    var revoked: [UserID: [DeviceID]] = [:]
    /// Inbox rows this unit wrote so far.
    public internal(set) var inboxRows = 0
    /// Normal rooms that had a message: every member's activity moves to `now`, once
    /// per room per batch (see `RoomActivity`).
    var activeRooms: [RoomID: Int64] = [:]
    let receiptsPending: Flag
    let retentionPosition: Retention.Position
    /// Whether a user has a live connection (parked pull or socket); set when pushes are on.
    var isOnline: ((UserID) -> Bool)?
    private var cachedPos: Int64?

    init(store: any StoreWriter, now: Int64, config: EngineConfiguration, receiptsPending: Flag, retentionPosition: Retention.Position) {
        self.store = store
        self.now = now
        self.config = config
        self.receiptsPending = receiptsPending
        self.retentionPosition = retentionPosition
    }

    func wake(_ user: UserID, at seq: Int64) {
        wake(user, at: seq, nil)
    }

    /// A message's wake-ups, one per recipient's inbox row: the message held once for all
    /// of them, the tables sized once for all of them.
    func wake(_ recipients: [InboxAppend], message: Message) {
        let shared = Notifier.Shared(message)
        wakes.reserveCapacity(wakes.count + recipients.count)
        wakeEvents.inbox.reserveCapacity(wakeEvents.inbox.count + recipients.count)
        for r in recipients { wake(r.user, at: r.seq, Notifier.InboxMessage(seq: r.seq, shared: shared)) }
    }

    /// A wake-up at a row that is not a message, with the event a pull reads there
    /// (`Notifier.News.inboxEvent`): it must be exactly what the pull would read.
    func wake(_ user: UserID, at seq: Int64, event: Event) {
        wake(user, at: seq, nil, event)
    }

    /// The user's newest woken seq, and the message or other event there if known (a
    /// later row without one clears it).
    private func wake(_ user: UserID, at seq: Int64, _ message: Notifier.InboxMessage?, _ event: Event? = nil) {
        guard seq >= (wakes[user] ?? 0) else { return }
        wakes[user] = seq
        wakeEvents.inbox[user] = message
        // (Sends never carry an event: their fan-out skips the table while it is empty.)
        if event != nil || !wakeEvents.inboxEvents.isEmpty {
            wakeEvents.inboxEvents[user] = event.map { Notifier.InboxEvent(seq: seq, event: $0) }
        }
    }

    func wakeReceipts(_ user: UserID, room: RoomID) {
        receiptWakes[user, default: []].insert(room)
    }

    /// The members of `room` (a normal room) were active now: written before the batch commits.
    func roomActive(_ room: RoomID) {
        activeRooms[room] = max(now, activeRooms[room] ?? 0)
    }

    func wakeRoom(_ room: RoomID, at seq: Int64, message: Message? = nil) {
        guard seq >= (roomWakes[room] ?? 0) else { return }
        roomWakes[room] = seq
        wakeEvents.rooms[room] = message
    }

    /// The commit position for non-message inbox events (`MessagesWrites.commitPosition`),
    /// asked of the store once per command and then kept up to date by `messageInserted`.
    func position() throws -> Int64 {
        if let cachedPos { return cachedPos }
        let p = try store.commitPosition()
        cachedPos = p
        return p
    }

    /// A message was stored in this command: its id is the commit position from now on.
    func messageInserted(_ id: Int64) { cachedPos = id }
}

/// What a read gets: a read-only connection inside a read transaction.
public struct ReadContext {
    public let store: any StoreReader
    public let now: Int64
    public let config: EngineConfiguration
}
