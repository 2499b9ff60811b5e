-- A user's hot-room memberships, found without visiting every room they are in.
--
-- Every pull (and every pull start) asks "which hot rooms is this user in?". Through
-- members_by_activity that meant one rooms lookup per membership: a user in 1,000
-- rooms paid 1,000 lookups per pull, even with no hot room at all. `members.hot`
-- mirrors `rooms.hot` (set when a member joins a hot room, and for every member when
-- the room turns hot; rooms never turn back), and the partial index holds only the
-- hot memberships, so the question costs one probe per hot room the user is in.
ALTER TABLE members ADD COLUMN hot INTEGER NOT NULL DEFAULT 0;
UPDATE members SET hot = 1 WHERE room_id IN (SELECT id FROM rooms WHERE hot = 1);
CREATE INDEX members_hot ON members(user_id, room_id) WHERE hot = 1;
