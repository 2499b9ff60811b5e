import Synchronization
import SyncEngine

/// What subscribers of a `Notifier` were told, in order, as short strings
/// (`inbox 5 m7`: the inbox at seq 5 with message 7; `room 3 9 -`: room 3 at seq 9
/// without a message), from any thread.
final class Heard: Sendable {
    private let items = Mutex<[String]>([])

    /// A subscriber callback that records under `name`.
    func callback(_ name: String) -> Notifier.Callback {
        { [self] news in items.withLock { $0.append("\(name): \(Self.describe(news))") } }
    }

    /// Everything recorded so far, and forgets it.
    func take() -> [String] { items.withLock { all in defer { all.removeAll() }; return all } }

    static func describe(_ news: Notifier.News) -> String {
        func m(_ message: Message?) -> String { message.map { "m\($0.id.rawValue)" } ?? "-" }
        switch news {
        case .inbox(let seq, let message): return "inbox \(seq) \(m(message))"
        case .inboxEvent(let seq, let event): return "inbox \(seq) \(event.kind.rawValue)"
        case .room(let room, let seq, let message): return "room \(room) \(seq) \(m(message))"
        case .receipts(let room): return "receipts \(room)"
        case .revoked(let device): return "revoked \(device)"
        case .recheck: return "recheck"
        }
    }

    static func message(_ id: Int64, room: Int64 = 1, seq: Int64) -> Message {
        Message(id: MessageID(id), room: RoomID(room), seq: seq, sender: "s", senderDevice: nil, clientMsgID: "c\(id)",
                body: "{}", sentAt: 0)
    }
}
