-- The change feed (GET /api/v1/changes): one row per record write, with a
-- per-tenant sequence number taken from change_heads inside the writing
-- transaction. SQLite has one writer at a time, so sequence order is
-- commit order.
CREATE TABLE change_heads (
    tenant_id TEXT PRIMARY KEY,
    last_seq  INTEGER NOT NULL
);
CREATE TABLE record_changes (
    tenant_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    op        TEXT NOT NULL,
    object    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    CHECK (op IN ('create', 'update', 'delete'))
);
-- Existing tenants start at 0; their existing records need no events,
-- since a mirror's first sync copies everything.
INSERT INTO change_heads (tenant_id, last_seq) SELECT id, 0 FROM tenants;
