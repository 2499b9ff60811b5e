-- Offline push outbox: written in the same transaction as the message, so a crash
-- between commit and delivery delays a push but never loses it. Delivery is at least
-- once; `push_id` is stable so the receiver can de-duplicate.
CREATE TABLE push_outbox (
    id               INTEGER PRIMARY KEY,
    push_id          TEXT    NOT NULL UNIQUE,
    user_id          INTEGER NOT NULL,
    room_id          INTEGER NOT NULL,
    message_id       INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    dead             INTEGER NOT NULL DEFAULT 0   -- 1: gave up after the maximum attempts
);
CREATE INDEX push_outbox_due ON push_outbox(dead, next_attempt_at);
