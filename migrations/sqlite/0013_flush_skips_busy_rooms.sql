-- Version 13 lets PostgreSQL's periodic receipts flush pass over rooms another writer
-- holds (migrations/postgres/0013_flush_skips_busy_rooms.sql). SQLite has one writer, so
-- no room is ever held by another; nothing changes here. The file keeps both engines at
-- the same version numbers.
SELECT 1;
