import SyncEngine

// The PostgreSQL backend of the store seam: a reader wraps a pooled connection inside
// a REPEATABLE READ snapshot, a writer wraps the writer thread's connection inside the
// group commit's transaction. Each area's statements live in PG+<Area>.swift.

public class PGReader: StoreReader {
    let pg: PGConnection
    /// Inside a unit of work: reads that a write will depend on take row locks.
    let locking: Bool

    init(_ conn: PGConnection, locking: Bool) {
        pg = conn
        self.locking = locking
    }

    /// Before a statement that changes rows (a no-op for a read-only snapshot).
    func willWrite() throws {}

    /// Before a statement that only locks rows (SELECT ... FOR NO KEY UPDATE).
    func willLock() throws {}

    /// A statement that changes rows: in a unit, a failure after it cannot be undone
    /// without a savepoint (see `PGWriter`).
    @discardableResult
    func write(_ sql: String, _ params: [PGValue] = [], _ row: (PGRow) throws -> Void = { _ in }) throws -> Int {
        try willWrite()
        return try pg.query(sql, params, row)
    }

    /// A statement that locks rows and changes none: a unit that fails after it has
    /// nothing to undo (its locks are held to the batch's commit, like every unit's).
    @discardableResult
    func lock(_ sql: String, _ params: [PGValue] = [], _ row: (PGRow) throws -> Void = { _ in }) throws -> Int {
        try willLock()
        return try pg.query(sql, params, row)
    }
}

/// The writer thread's view of one unit at a time (see `GroupCommitWriter`).
///
/// Units run **optimistically**, without savepoints: a SAVEPOINT and its RELEASE are two
/// round trips per unit, as many as a whole send's function call costs, and almost every
/// unit that fails fails before changing anything (validation, 403/404/409, a duplicate
/// key), when there is nothing to undo. A unit that fails after changing rows
/// (`unitWrote`), or whose failing statement aborted the transaction, makes the writer
/// roll the batch back and replay it **isolating**: each unit's first locking or
/// changing statement opens its savepoint, so a unit that fails is undone alone (the
/// layout every batch had before; SQLite's writer does the same, WriterCore+Batch.swift).
public final class PGWriter: PGReader, StoreWriter {
    private var isolating = false
    private var savepointOpen = false
    private var unitHasSavepoint = false
    /// The current unit changed rows.
    private(set) var unitWrote = false
    private(set) var unitNews: [StoreNews] = []

    init(_ conn: PGConnection) { super.init(conn, locking: true) }

    /// A new transaction (the savepoint of the previous one is gone).
    func beginBatch(isolating: Bool) {
        self.isolating = isolating
        savepointOpen = false
        unitHasSavepoint = false
        unitWrote = false
        unitNews = []
    }

    func beginUnit() {
        unitHasSavepoint = false
        unitWrote = false
        unitNews = []
    }

    override func willLock() throws {
        guard isolating, !unitHasSavepoint else { return }
        try pg.execute(savepointOpen ? "RELEASE SAVEPOINT unit; SAVEPOINT unit" : "SAVEPOINT unit")
        savepointOpen = true
        unitHasSavepoint = true
    }

    override func willWrite() throws {
        try willLock()
        unitWrote = true
    }

    /// A server-side function that reported it changed rows.
    func didWrite() { unitWrote = true }

    /// Isolating: undoes the failed unit. False when it had no savepoint and the
    /// transaction is in error (its statement failed before writing): the whole
    /// transaction must go.
    func undoUnit() throws -> Bool {
        unitNews = []
        if unitHasSavepoint {
            try pg.execute("ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit")
            savepointOpen = false
            unitHasSavepoint = false
            return true
        }
        return !pg.transactionFailed
    }

    /// The batch hook runs as a unit of its own.
    func endUnit() { beginUnit() }

    public func announce(_ news: StoreNews) throws { unitNews.append(news) }
}

/// NOTIFY payloads: `<node> <item> <item> ...`, items `u<user>.<seq>` (inbox grew),
/// `r<room>.<seq>` (hot room advanced), `c<user>.<room>` (read counts changed),
/// `v<user>.<device>` (device revoked). Split so no payload passes 7,900 bytes
/// (PostgreSQL's limit is 8,000).
enum NewsCodec {
    static let maxPayload = 7900

    static func encode(_ all: [StoreNews], node: String) -> [String] {
        guard all.contains(where: { !$0.isEmpty }) else { return [] }
        var merged = StoreNews()
        for n in all { merged.merge(n) }
        var items: [String] = []
        for (u, seq) in merged.users { items.append("u\(u.rawValue).\(seq)") }
        for (r, seq) in merged.rooms { items.append("r\(r.rawValue).\(seq)") }
        for (u, rooms) in merged.receipts { for r in rooms { items.append("c\(u.rawValue).\(r.rawValue)") } }
        for (u, devices) in merged.revoked { for d in devices { items.append("v\(u.rawValue).\(d.rawValue)") } }
        var payloads: [String] = []
        var current = node
        for item in items {
            if current.utf8.count + 1 + item.utf8.count > maxPayload {
                payloads.append(current)
                current = node
            }
            current += " " + item
        }
        payloads.append(current)
        return payloads
    }

    /// The sending node and its news; nil for a payload that does not parse.
    static func decode(_ payload: String) -> (node: String, news: StoreNews)? {
        let parts = payload.split(separator: " ")
        guard let node = parts.first else { return nil }
        var news = StoreNews()
        for item in parts.dropFirst() {
            guard let kind = item.first, let dot = item.firstIndex(of: "."),
                  let a = Int64(item[item.index(after: item.startIndex)..<dot]),
                  let b = Int64(item[item.index(after: dot)...]) else { return nil }
            switch kind {
            case "u": news.users[UserID(a)] = max(b, news.users[UserID(a)] ?? 0)
            case "r": news.rooms[RoomID(a)] = max(b, news.rooms[RoomID(a)] ?? 0)
            case "c": news.receipts[UserID(a), default: []].insert(RoomID(b))
            case "v": news.revoked[UserID(a), default: []].append(DeviceID(b))
            default: return nil
            }
        }
        return (String(node), news)
    }
}
