-- Version 5 rebuilt SQLite's inbox table for its write path (migrations/sqlite/
-- 0005_inbox_check.sql); PostgreSQL's CHECK has no such cost, so nothing changes here.
-- The file keeps the version numbers of both engines the same.
SELECT 1;
