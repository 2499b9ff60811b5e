-- See migrations/sqlite/0015_revoked_devices.sql. The nodes of a cluster hear of a
-- revocation by another process through its notification; the index keeps both engines
-- at the same version and serves the same store read.
CREATE INDEX devices_revoked ON devices(revoked_at) WHERE revoked_at IS NOT NULL;
