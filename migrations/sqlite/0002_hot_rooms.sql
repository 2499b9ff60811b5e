-- Hot rooms (read diffusion) and read receipts. See DESIGN.md "Ordering and cursors".

-- The room's last_seq when it turned hot: messages above it are stored once and
-- merged at pull time; those at or below it were copied into inboxes.
ALTER TABLE rooms ADD COLUMN hot_since_seq INTEGER;

-- Commit position of each inbox event, comparable with messages.id (which the single
-- writer assigns in commit order), so a pull can merge a user's inbox with their hot
-- rooms in commit order. Message events carry their message's id; other events the
-- highest message id at their commit.
ALTER TABLE inbox ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;
UPDATE inbox SET pos = COALESCE(
    (SELECT m.id FROM messages m WHERE m.room_id = inbox.room_id AND m.seq = inbox.room_seq), 0);

-- Receipts: how many members of a room have read up to a seq, from the read markers.
CREATE INDEX members_by_read ON members(room_id, read_seq);

-- Coalesced `receipts` events: at most one per (room, sender) per window.
CREATE TABLE receipt_marks (
    room_id      INTEGER NOT NULL,
    sender_id    INTEGER NOT NULL,
    emitted_at   INTEGER NOT NULL DEFAULT 0,   -- when the last receipts event went out
    pending      INTEGER NOT NULL DEFAULT 0,   -- 1: counts changed since then
    PRIMARY KEY (room_id, sender_id)
) WITHOUT ROWID;
CREATE INDEX receipt_marks_pending ON receipt_marks(pending) WHERE pending = 1;
