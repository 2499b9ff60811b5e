// What several processes over one database need of a store (see Store.swift for the
// seam): news of every commit reaches every node, and presence spans the nodes. A
// single-process store (SQLite) has nothing to broadcast: its Notifier hears every
// commit already, and it answers presence from that Notifier.

/// What a unit of work changed that wakes someone: published to this process's
/// Notifier after the commit (by the engine) and, by a store serving several nodes,
/// broadcast to the other nodes in the same transaction (delivered only at commit).
public struct StoreNews: Sendable, Equatable {
    /// Users whose inbox grew, with the newest seq.
    public var users: [UserID: Int64] = [:]
    /// Hot rooms that advanced, with the newest seq.
    public var rooms: [RoomID: Int64] = [:]
    /// Users whose messages' read counts changed, per room.
    public var receipts: [UserID: Set<RoomID>] = [:]
    /// Devices revoked, per user.
    public var revoked: [UserID: [DeviceID]] = [:]

    public init(users: [UserID: Int64] = [:], rooms: [RoomID: Int64] = [:], receipts: [UserID: Set<RoomID>] = [:],
                revoked: [UserID: [DeviceID]] = [:]) {
        self.users = users
        self.rooms = rooms
        self.receipts = receipts
        self.revoked = revoked
    }

    public var isEmpty: Bool { users.isEmpty && rooms.isEmpty && receipts.isEmpty && revoked.isEmpty }

    /// Adds `other`'s news (the newest seq per stream wins).
    public mutating func merge(_ other: StoreNews) {
        users.merge(other.users) { max($0, $1) }
        rooms.merge(other.rooms) { max($0, $1) }
        receipts.merge(other.receipts) { $0.union($1) }
        revoked.merge(other.revoked) { $0 + $1 }
    }
}

public protocol ClusterWrites {
    /// Tells the other nodes, at this unit's commit, what it changed. A no-op for a
    /// single-process store. Must not fail the unit for any reason but storage.
    func announce(_ news: StoreNews) throws
}

/// News that came from another node, or "something may have been missed" (the
/// broadcast was interrupted: wake every waiter so it queries again).
public enum RemoteNews: Sendable {
    case news(StoreNews)
    case recheckAll
}
