-- Every stay a member has ended, in every room, normal or hot: (floor, left_seq], the
-- messages they could see then. A change row (an edit, a recall, a reactions row) shows
-- its message to a viewer whose current stay or one of these holds it: a member removed
-- and added back still gets the recall of a message from their first stay, which their
-- device holds, and still nothing of what was said while they were away. Written by a
-- trigger on every removal of a membership, whichever path removes it. Hot rooms' stays
-- from before this migration come from hot_departures (their floor is the later of the
-- join and the switch to hot); normal rooms' earlier stays were never recorded.
CREATE TABLE past_stays (
    user_id  INTEGER NOT NULL,
    room_id  INTEGER NOT NULL,
    floor    INTEGER NOT NULL,
    left_seq INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, left_seq, floor)
) WITHOUT ROWID;
-- Retention drops the stays whose messages are all pruned (raiseHistoryFloor).
CREATE INDEX past_stays_by_room ON past_stays(room_id, left_seq);
INSERT OR IGNORE INTO past_stays (user_id, room_id, floor, left_seq)
    SELECT user_id, room_id, floor, left_seq FROM hot_departures WHERE left_seq > floor;
CREATE TRIGGER members_past_stay AFTER DELETE ON members
BEGIN
    INSERT OR IGNORE INTO past_stays (user_id, room_id, floor, left_seq)
        SELECT OLD.user_id, OLD.room_id, OLD.joined_seq, r.last_seq FROM rooms r
        WHERE r.id = OLD.room_id AND r.last_seq > OLD.joined_seq;
END;
