-- See migrations/sqlite/0003_departures_retention.sql.
CREATE TABLE hot_departures (
    user_id    BIGINT NOT NULL,
    room_id    BIGINT NOT NULL,
    floor      BIGINT NOT NULL,
    left_seq   BIGINT NOT NULL,
    left_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
ALTER TABLE users ADD COLUMN inbox_floor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN history_floor BIGINT NOT NULL DEFAULT 0;
