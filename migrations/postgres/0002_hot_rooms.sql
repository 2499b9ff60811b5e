-- Hot rooms (read diffusion) and read receipts; see migrations/sqlite/0002_hot_rooms.sql.
ALTER TABLE rooms ADD COLUMN hot_since_seq BIGINT;

-- Commit position of each inbox event, comparable with messages.id. With several
-- writers, ids are taken from one sequence at insert time, not at commit: they order a
-- page's interleaving only; the per-stream positions are the correctness guarantee.
ALTER TABLE inbox ADD COLUMN pos BIGINT NOT NULL DEFAULT 0;

CREATE INDEX members_by_read ON members(room_id, read_seq);

CREATE TABLE receipt_marks (
    room_id      BIGINT  NOT NULL,
    sender_id    BIGINT  NOT NULL,
    emitted_at   BIGINT  NOT NULL DEFAULT 0,
    pending      BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (room_id, sender_id)
);
CREATE INDEX receipt_marks_pending ON receipt_marks(pending) WHERE pending;
