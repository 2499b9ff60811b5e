-- A member who leaves a hot room may have devices that have not pulled everything
-- sent before the leave (read diffusion keeps no inbox copy). The departure keeps the
-- range (floor, left_seq] deliverable to cursors that still name the room.
CREATE TABLE hot_departures (
    user_id    INTEGER NOT NULL,
    room_id    INTEGER NOT NULL,
    floor      INTEGER NOT NULL,   -- deliverable messages are floor < seq <= left_seq
    left_seq   INTEGER NOT NULL,
    left_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id)
) WITHOUT ROWID;

-- Retention: the highest inbox seq pruned for the user. A cursor below it is expired
-- (410 cursor_expired) because events after it may be gone.
ALTER TABLE users ADD COLUMN inbox_floor INTEGER NOT NULL DEFAULT 0;
-- The lowest message seq still kept per room after history pruning (0: nothing pruned).
ALTER TABLE rooms ADD COLUMN history_floor INTEGER NOT NULL DEFAULT 0;
