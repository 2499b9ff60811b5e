extension Database {
    /// How a connection opens its file. A process has exactly one `.readWrite`
    /// connection (the `Writer`'s); every other connection is `.readOnly`
    /// (ARCHITECTURE.md "Concurrency").
    public enum Mode: Sendable {
        case readWrite
        case readOnly
    }

    /// `PRAGMA synchronous` for the write connection (https://www.sqlite.org/pragma.html#pragma_synchronous).
    public enum Durability: String, Sendable {
        /// fsync the WAL at every commit: a commit that returned survives power loss.
        /// The default, because the HTTP 200 for a send is the business-level ACK.
        case full = "FULL"
        /// fsync only at checkpoints: a commit survives a crash of the process, but
        /// the last commits may be lost on power loss (WAL keeps the file consistent).
        case normal = "NORMAL"
    }

    public struct Options: Sendable {
        public var durability: Durability
        /// How long a statement waits for a lock held by another connection before
        /// failing with SQLITE_BUSY (https://www.sqlite.org/c3ref/busy_timeout.html).
        public var busyTimeoutMilliseconds: Int32
        /// `.readWrite` only: create the file if it does not exist.
        public var create: Bool
        /// Upper bound on cached prepared statements; past it, idle ones are dropped.
        /// Bounds memory if some caller builds SQL text dynamically.
        public var statementCacheLimit: Int

        public init(durability: Durability = .full,
                    busyTimeoutMilliseconds: Int32 = 5000,
                    create: Bool = true,
                    statementCacheLimit: Int = 256) {
            self.durability = durability
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.create = create
            self.statementCacheLimit = statementCacheLimit
        }
    }

    public enum TransactionKind: String, Sendable {
        /// Takes the write lock at BEGIN: a writer never fails half-way through with
        /// SQLITE_BUSY on lock upgrade (https://www.sqlite.org/lang_transaction.html).
        case immediate = "IMMEDIATE"
        /// Takes locks on first use: a read transaction for consistent multi-query reads.
        case deferred = "DEFERRED"
    }

    /// Result of `checkpoint(truncate:)`: frames in the WAL and frames copied back.
    public struct CheckpointResult: Sendable, Equatable {
        public let walFrames: Int
        public let checkpointedFrames: Int
    }
}
