import SyncEngine

/// One read-only SQLite connection per event loop (WAL readers never block the writer).
///
/// Confinement: connection `i` is only used on loop `i` (`Responder.loop.index`), so no
/// two threads ever touch the same connection. That is why `@unchecked Sendable` is sound.
final class ReadPool: @unchecked Sendable {
    private let connections: [Database]

    init(path: String, count: Int, options: Database.Options) throws {
        connections = try (0..<count).map { _ in try Database(path: path, mode: .readOnly, options: options) }
    }

    func connection(forLoop index: Int) -> Database { connections[index] }

    func closeAll() { for c in connections { c.close() } }
}
