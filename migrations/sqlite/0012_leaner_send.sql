-- Version 12 rewrites PostgreSQL's ph_receipts and ph_send
-- (migrations/postgres/0012_leaner_send.sql) to do less per send for the same outcomes.
-- SQLite composes a send in the process (Sources/SyncEngine/Messages.swift, Receipts.swift),
-- so nothing changes here. The file keeps both engines at the same version numbers.
SELECT 1;
