import SyncEngine

/// One store read connection per event loop (SQLite: a WAL reader, which never blocks
/// the writer).
///
/// Confinement: connection `i` is only used on loop `i` (`Responder.loop.index`), so no
/// two threads ever touch the same connection. That is why `@unchecked Sendable` is sound.
final class ReadPool: @unchecked Sendable {
    private let connections: [any StoreReadConnection]

    init(store: any SyncStore, count: Int) throws(SyncError) {
        var all: [any StoreReadConnection] = []
        for _ in 0..<count { all.append(try store.openReader()) }
        connections = all
    }

    func connection(forLoop index: Int) -> any StoreReadConnection { connections[index] }

    func closeAll() { for c in connections { c.close() } }
}
