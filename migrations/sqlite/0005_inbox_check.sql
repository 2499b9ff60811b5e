-- Write throughput: rebuild `inbox` with the same columns, key and rule, spelled so
-- that SQLite does not build a temporary table at every insert.
--
-- `kind IN ('message', 'read', 'member', 'receipts')` is compiled (for lists of more
-- than two values) into an ephemeral b-tree filled at each execution of the INSERT:
-- a single-row insert into the inbox spent more time building it than inserting the
-- row. A chain of equalities enforces the same rule with four comparisons.
CREATE TABLE inbox_new (
    user_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind = 'message' OR kind = 'read' OR kind = 'member' OR kind = 'receipts'),
    room_id     INTEGER,
    room_seq    INTEGER,
    payload     TEXT,
    created_at  INTEGER NOT NULL,
    pos         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
INSERT INTO inbox_new (user_id, seq, kind, room_id, room_seq, payload, created_at, pos)
    SELECT user_id, seq, kind, room_id, room_seq, payload, created_at, pos FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_new RENAME TO inbox;
