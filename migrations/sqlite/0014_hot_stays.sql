-- A member's departures from a hot room are kept one per stay, with the inbox seq of
-- the leave's `member` event (left_inbox_seq). Before, a departure was one row per user
-- and room, dropped when the user joined again, and offered only to cursors that still
-- named the room: a device behind across a leave and a rejoin, or whose cursor was older
-- than the join, never got what was sent during the stay (read diffusion keeps no inbox
-- copy). Now a stay (floor, left_seq] goes to a cursor that names the room at a position
-- before left_seq, or to one that has not seen the leave yet (its inbox seq is below
-- left_inbox_seq). Rows from before this migration have left_inbox_seq 0: offered to
-- cursors that name the room, as they were. A stay with nothing in it whose left_seq an
-- earlier stay already has is not recorded (INSERT OR IGNORE).
CREATE TABLE hot_stays (
    user_id         INTEGER NOT NULL,
    room_id         INTEGER NOT NULL,
    floor           INTEGER NOT NULL,   -- deliverable messages are floor < seq <= left_seq
    left_seq        INTEGER NOT NULL,
    left_at         INTEGER NOT NULL,
    left_inbox_seq  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, room_id, left_seq)
) WITHOUT ROWID;
INSERT INTO hot_stays (user_id, room_id, floor, left_seq, left_at)
    SELECT user_id, room_id, floor, left_seq, left_at FROM hot_departures;
DROP TABLE hot_departures;
ALTER TABLE hot_stays RENAME TO hot_departures;
