-- Several nodes (PostgreSQL only; migrations/sqlite/0007_cluster.sql is empty).
-- Presence: which users have a live connection (a parked pull or an open socket) on
-- which node, so a send queues an offline push only for users online on no node. A
-- node refreshes `nodes.seen_at` every few seconds; rows of a node not seen for a while
-- are ignored (it died) and removed by the next node to start or sweep.
CREATE TABLE nodes (
    id        TEXT   PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at   BIGINT NOT NULL
);
CREATE TABLE presence (
    node_id  TEXT   NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL,
    PRIMARY KEY (user_id, node_id)
);
CREATE INDEX presence_by_node ON presence(node_id);
