import Dispatch
import Glibc
import Synchronization

/// Member activity of normal rooms, gathered over one batch and written once per room
/// just before COMMIT. A 200-member room used to rewrite its 199 other member rows
/// (and their activity index entries) for every message; a batch of 60 sends into it
/// now rewrites them once. `max()` keeps a later join time, so a member who joined
/// after the message in the same batch keeps their own. Reset at every BEGIN (a
/// replay gathers again). A batch's hooks and units all run on the thread of the
/// writer that runs it; a store may have several writer threads (PostgreSQL), so the
/// rooms are kept per thread. Written in room id order (a fixed lock order).
final class RoomActivity: Sendable {
    private let rooms = Mutex<[UInt: [RoomID: Int64]]>([:])

    private static var thread: UInt { UInt(pthread_self()) }

    func reset() { rooms.withLock { $0[Self.thread] = [:] } }

    func add(_ active: [RoomID: Int64]) {
        guard !active.isEmpty else { return }
        let t = Self.thread
        rooms.withLock { all in
            for (room, at) in active { all[t, default: [:]][room] = max(at, all[t]?[room] ?? 0) }
        }
    }

    func flush(_ db: any StoreWriter) throws {
        let t = Self.thread
        let mine = rooms.withLock { $0.removeValue(forKey: t) } ?? [:]
        // A failure here fails the whole batch, as a failed COMMIT does. One store
        // operation for all the batch's rooms (one statement on PostgreSQL).
        if !mine.isEmpty { try db.touchMembers(rooms: mine) }
    }
}
