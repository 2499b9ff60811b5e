-- Pigeonhole schema, version 1. See DESIGN.md "Data model".
-- All timestamps are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    inbox_seq   INTEGER NOT NULL DEFAULT 0,   -- last seq written to this user's inbox
    created_at  INTEGER NOT NULL
);

CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    name          TEXT    NOT NULL,
    token_hash    BLOB    NOT NULL UNIQUE,    -- SHA-256 of the bearer token; the token itself is never stored
    acked_cursor  TEXT,                       -- last cursor this device acked (NULL: never acked)
    acked_seq     INTEGER NOT NULL DEFAULT 0, -- its inbox position, so acks only move forward
    revoked_at    INTEGER,                    -- NULL while the device may authenticate
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER
);
CREATE INDEX devices_by_user ON devices(user_id);

CREATE TABLE rooms (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    direct_key      TEXT    UNIQUE,           -- 'dm:<smaller user id>:<larger user id>' for directs
    name            TEXT,
    last_seq        INTEGER NOT NULL DEFAULT 0,   -- gapless per-room message seq
    last_active_at  INTEGER NOT NULL,
    member_count    INTEGER NOT NULL DEFAULT 0,
    hot             INTEGER NOT NULL DEFAULT 0,   -- 1: read diffusion (no inbox copies)
    created_by      INTEGER REFERENCES users(id),
    created_at      INTEGER NOT NULL
);

CREATE TABLE members (
    room_id         INTEGER NOT NULL REFERENCES rooms(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    joined_seq      INTEGER NOT NULL,   -- room.last_seq when the user joined; sees seq > joined_seq
    read_seq        INTEGER NOT NULL,   -- read marker; only moves forward
    last_active_at  INTEGER NOT NULL,   -- activity of the room as this member sees it (write diffusion)
    role            TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
-- The conversation list: a user's rooms by activity, keyset-paginated.
CREATE INDEX members_by_activity ON members(user_id, last_active_at DESC, room_id DESC);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    room_id           INTEGER NOT NULL REFERENCES rooms(id),
    seq               INTEGER NOT NULL,
    sender_id         INTEGER NOT NULL REFERENCES users(id),
    sender_device_id  INTEGER,
    client_msg_id     TEXT    NOT NULL,
    body              TEXT    NOT NULL,   -- the client's JSON value, as canonical JSON text
    sent_at           INTEGER NOT NULL,
    UNIQUE (room_id, seq),
    UNIQUE (sender_id, client_msg_id)
);

-- Write diffusion: one row per event per user. Message events reference
-- messages(room_id, seq); other kinds carry their JSON in payload.
CREATE TABLE inbox (
    user_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('message', 'read', 'member', 'receipts')),
    room_id     INTEGER,
    room_seq    INTEGER,
    payload     TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
