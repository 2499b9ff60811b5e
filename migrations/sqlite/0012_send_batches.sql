-- Version 12 adds PostgreSQL's ph_send_batch (migrations/postgres/0012_send_batches.sql):
-- a batch's consecutive sends in one server-side call. SQLite runs its units in the
-- process (Sources/SyncEngine/Messages.swift), so nothing changes here. The file keeps
-- both engines at the same version numbers.
SELECT 1;
