-- Version 7 is PostgreSQL's cluster tables (nodes, presence: migrations/postgres/0007_cluster.sql).
-- One node on SQLite needs none; the file keeps the version numbers of both engines the same.
SELECT 1;
