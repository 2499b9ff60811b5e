-- Rate limits shared by a cluster's nodes (issue 20, item 5; Sources/SyncEngine/Store/
-- RateBucketsStore.swift): a token bucket per key, charged inside the unit that does
-- the limited write. One SQLite node's own buckets in memory are already the whole
-- cluster's, so the server does not charge these; the table keeps the store seam the
-- same on both engines (the conformance suite runs it on both).
CREATE TABLE rate_buckets (
    key TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at INTEGER NOT NULL       -- milliseconds of the last charge
) WITHOUT ROWID;
