-- Single-use tickets for GET /v1/notify (see migrations/sqlite/0009_socket_tickets.sql):
-- a ticket works once, for 30 seconds, from any node; only its SHA-256 is stored.
CREATE TABLE socket_tickets (
    ticket_hash bytea PRIMARY KEY,
    device_id bigint NOT NULL REFERENCES devices(id),
    expires_at bigint NOT NULL
);
CREATE INDEX socket_tickets_by_device ON socket_tickets(device_id, expires_at);
