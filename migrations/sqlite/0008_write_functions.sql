-- Version 8 is PostgreSQL's server-side write functions (ph_send, ph_mark_read:
-- migrations/postgres/0008_write_functions.sql), which make a send or a read marker one
-- round trip to a database across the network. SQLite runs in the process: its writer
-- composes the same steps from the store's fine-grained operations (the default
-- implementations in Sources/SyncEngine/Store), so nothing changes here. The file keeps
-- the version numbers of both engines the same.
SELECT 1;
