-- Edits, recalls and reactions (issue 22; docs/message-changes.md).
--
-- A change to a message is a row of `messages` too: it takes the room's next seq (room
-- seqs stay gapless, and a hot room's cursor position covers changes with no new
-- field), `kind` says what it is and `target_seq` which message it changes. It stores
-- no text: the message's own row holds its current state (body, edited_at, edit_count,
-- deleted_at, version, reaction counts), and every event renders that state when it is
-- read. A recall empties the body in place (after recalls a node VACUUMs this table: docs/message-changes.md).
-- 'message', 'edit', 'delete' or 'reactions' (written only by the server: no CHECK,
-- which every send would pay for).
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
ALTER TABLE messages ADD COLUMN target_seq BIGINT;
-- A change row: the room's change rows up to and including it (0 on message rows). Unread
-- counts messages, so a marker at seq S has read S minus the change_no of the newest
-- change row at or below S (ConversationsReads); no backfill is needed.
ALTER TABLE messages ADD COLUMN change_no BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN edit_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN deleted_at BIGINT;
-- Every change (edit, recall, reaction added or removed) adds one: of two copies of a
-- message, the higher version is newer.
ALTER TABLE messages ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
-- Reaction counts, "key US count" joined by RS (0x1F, 0x1E: a key cannot hold them),
-- ordered by key; NULL when there are none.
ALTER TABLE messages ADD COLUMN reactions TEXT;

-- The room's change rows so far: unread = (last_seq - change_count) - what was read.
ALTER TABLE rooms ADD COLUMN change_count BIGINT NOT NULL DEFAULT 0;

-- Who reacted with what: `me` in a message's reactions, and the erasure of a user.
CREATE TABLE reactions (
    room_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    key        TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, user_id, key)
);
CREATE INDEX reactions_by_user ON reactions(user_id);

-- Messages whose reactions changed since their last `reactions` event: the flush
-- (about once a second) writes one event per row and deletes it.
CREATE TABLE reaction_marks (
    room_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq)
);

-- Erasing a user (DELETE /v1/admin/users/{name}): one row per erasure asked for (a
-- table of its own, so the users rows every send updates do not grow or gain an index).
CREATE TABLE erasures (
    user_id         BIGINT PRIMARY KEY REFERENCES users(id),
    requested_at    BIGINT NOT NULL,
    erased_messages BIGINT NOT NULL DEFAULT 0,
    finished_at     BIGINT
);

-- A read marker's change count (unread): the newest change row at or below it, from
-- this index alone; message rows are not in it, so sends do not maintain it.
CREATE INDEX messages_changes ON messages(room_id, seq) WHERE kind <> 'message';

-- Receipts count messages: a reader's marker passing a change row marks nobody (the
-- change's author would get receipts for an edit). ph_receipts of 0008 with that filter.
CREATE OR REPLACE FUNCTION ph_receipts(p_room bigint, p_reader bigint, p_from bigint, p_to bigint, p_due bigint, p_at bigint,
                            p_pos bigint,
                            OUT o_marked boolean, OUT o_users bigint[], OUT o_seqs bigint[], OUT o_pending boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n bigint;
BEGIN
    o_marked := false;
    o_pending := false;
    INSERT INTO receipt_marks (room_id, sender_id, emitted_at, pending)
    SELECT DISTINCT p_room, msg.sender_id, 0::bigint, true FROM messages msg
    WHERE msg.room_id = p_room AND msg.seq > p_from AND msg.seq <= p_to AND msg.sender_id <> p_reader
      AND msg.kind = 'message'
      AND msg.sender_id IN (SELECT mb.user_id FROM members mb WHERE mb.room_id = p_room)
    ORDER BY 2
    ON CONFLICT (room_id, sender_id) DO UPDATE SET pending = true;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n = 0 THEN
        RETURN;
    END IF;
    o_marked := true;
    SELECT e.o_users, e.o_seqs INTO o_users, o_seqs FROM ph_emit_receipts(p_room, p_due, p_at, p_pos) e;
    o_pending := EXISTS (SELECT 1 FROM receipt_marks rm WHERE rm.pending);
END
$$;
