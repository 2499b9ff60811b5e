-- Edits, recalls and reactions (issue 22; docs/message-changes.md).
--
-- A change to a message is a row of `messages` too: it takes the room's next seq (room
-- seqs stay gapless, and a hot room's cursor position covers changes with no new
-- field), `kind` says what it is and `target_seq` which message it changes. It stores
-- no text: the message's own row holds its current state (body, edited_at, edit_count,
-- deleted_at, version, reaction counts), and every event renders that state when it is
-- read. A recall empties the body in place (secure_delete zeroes the freed bytes).
-- 'message', 'edit', 'delete' or 'reactions' (written only by the server: no CHECK,
-- which every send would pay for).
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
ALTER TABLE messages ADD COLUMN target_seq INTEGER;
-- A change row: the room's change rows up to and including it (0 on message rows). Unread
-- counts messages, so a marker at seq S has read S minus the change_no of the newest
-- change row at or below S (ConversationsReads); no backfill is needed.
ALTER TABLE messages ADD COLUMN change_no INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN edit_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
-- Every change (edit, recall, reaction added or removed) adds one: of two copies of a
-- message, the higher version is newer.
ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
-- Reaction counts, "key US count" joined by RS (0x1F, 0x1E: a key cannot hold them),
-- ordered by key; NULL when there are none.
ALTER TABLE messages ADD COLUMN reactions TEXT;

-- The room's change rows so far: unread = (last_seq - change_count) - what was read.
ALTER TABLE rooms ADD COLUMN change_count INTEGER NOT NULL DEFAULT 0;

-- Who reacted with what: `me` in a message's reactions, and the erasure of a user.
CREATE TABLE reactions (
    room_id    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq, user_id, key)
) WITHOUT ROWID;
CREATE INDEX reactions_by_user ON reactions(user_id);

-- Messages whose reactions changed since their last `reactions` event: the flush
-- (about once a second) writes one event per row and deletes it.
CREATE TABLE reaction_marks (
    room_id  INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    since    INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;

-- Erasing a user (DELETE /v1/admin/users/{name}): one row per erasure asked for (a
-- table of its own, so the users rows every send updates do not grow or gain an index).
CREATE TABLE erasures (
    user_id         INTEGER PRIMARY KEY REFERENCES users(id),
    requested_at    INTEGER NOT NULL,
    erased_messages INTEGER NOT NULL DEFAULT 0,
    finished_at     INTEGER
);

-- A read marker's change count (unread): the newest change row at or below it, from
-- this index alone; message rows are not in it, so sends do not maintain it.
CREATE INDEX messages_changes ON messages(room_id, seq) WHERE kind <> 'message';
