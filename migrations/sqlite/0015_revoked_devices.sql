-- Revoked devices by when (a partial index: only the revoked ones). A running
-- single-process server looks every second for devices another process revoked
-- (`pigeonhole device revoke` on the same database): it heard of its own revocations
-- from its writer, never of those, and their open sockets and parked pulls went on.
CREATE INDEX devices_revoked ON devices(revoked_at) WHERE revoked_at IS NOT NULL;
