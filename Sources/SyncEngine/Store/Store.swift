import SQLiteStore

// The storage seam (issue 11). The domain (accounts, rooms, messages, inbox, stream,
// conversations, receipts, retention, push outbox) is written against these protocols
// and its own types; a backend implements them. Each area declares what it needs in
// its own protocol (Store/<Area>Store.swift); `StoreReader` and `StoreWriter` are
// their composition.
//
// TRANSITION: while areas move behind the seam, `StoreReader` still exposes the
// SQLite connection (`sqlite`) and forwards the old query calls to it, so a domain
// function compiles unchanged once its parameter is a store. Each converted area
// removes its SQL; the forwarding goes when no area uses it.

/// What a read sees: one consistent snapshot, for the duration of one call of
/// `SyncEngine.read`.
public protocol StoreReader: AnyObject, AccountsReads, RoomsReads, MessagesReads, StreamReads,
                             ConversationsReads, ReceiptsReads, PushOutboxReads {
    /// TRANSITION only (see above).
    var sqlite: Database { get }
}

/// One unit of work of a write: everything it does commits together, durably, before
/// its completion runs (or not at all). It also sees its own writes.
public protocol StoreWriter: StoreReader, AccountsWrites, RoomsWrites, MessagesWrites, InboxWrites, StreamWrites,
                             ConversationsWrites, ReceiptsWrites, RetentionWrites, PushOutboxWrites {}

// MARK: transitional forwarding (goes when every area is converted)

extension StoreReader {
    func query(_ sql: String, _ params: [SQLValue] = [], _ row: (Row) throws -> Void) throws {
        try sqlite.query(sql, params, row)
    }
    func queryOne<T>(_ sql: String, _ params: [SQLValue] = [], _ map: (Row) throws -> T) throws -> T? {
        try sqlite.queryOne(sql, params, map)
    }
    func queryAll<T>(_ sql: String, _ params: [SQLValue] = [], _ map: (Row) throws -> T) throws -> [T] {
        try sqlite.queryAll(sql, params, map)
    }
}

extension StoreWriter {
    @discardableResult
    func run(_ sql: String, _ params: [SQLValue] = []) throws(SQLiteError) -> Int { try sqlite.run(sql, params) }
    var lastInsertRowID: Int64 { sqlite.lastInsertRowID }
}
