-- Single-use tickets for GET /v1/notify: a browser's WebSocket cannot send an
-- Authorization header, and a device token in its URL ends up in proxy logs (nginx's
-- error_log prints the request line when an upstream is unreachable). A device asks for
-- a ticket with its bearer token (POST /v1/notify/ticket), then opens the socket with
-- ?ticket=: the ticket works once, for 30 seconds. Only its SHA-256 is stored.
CREATE TABLE socket_tickets (
    ticket_hash BLOB PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
-- A device's expired tickets are removed when it asks for a new one.
CREATE INDEX socket_tickets_by_device ON socket_tickets(device_id, expires_at);
