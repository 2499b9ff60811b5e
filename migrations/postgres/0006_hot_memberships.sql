-- See migrations/sqlite/0006_hot_memberships.sql: members.hot mirrors rooms.hot, and a
-- partial index holds only the hot memberships.
ALTER TABLE members ADD COLUMN hot BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX members_hot ON members(user_id, room_id) WHERE hot;
