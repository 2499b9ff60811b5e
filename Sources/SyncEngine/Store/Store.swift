// The storage seam (issue 11). The domain (accounts, rooms, messages, inbox, stream,
// conversations, receipts, retention, push outbox) is written against these protocols
// and its own types; a backend implements them. Each area declares what it needs in
// its own protocol (Store/<Area>Store.swift); `StoreReader` and `StoreWriter` are
// their composition. `SyncStore.swift` is the backend as a whole (units of work, read
// connections) and lists the guarantees every backend keeps; ARCHITECTURE.md has the
// overview. The SQLite backend is the `SQLiteBackend` target.

/// What a read sees: one consistent snapshot, for the duration of one call of
/// `SyncEngine.read`.
public protocol StoreReader: AnyObject, AccountsReads, RoomsReads, MessagesReads, StreamReads,
                             ConversationsReads, ReceiptsReads, PushOutboxReads, MessageChangesReads {}

/// One unit of work of a write: everything it does commits together, durably, before
/// its completion runs (or not at all). It also sees its own writes.
public protocol StoreWriter: StoreReader, AccountsWrites, RoomsWrites, MessagesWrites, InboxWrites, StreamWrites,
                             ConversationsWrites, ReceiptsWrites, RetentionWrites, PushOutboxWrites,
                             ClusterWrites, RateBucketsWrites, MessageChangesWrites {}
