-- The change feed (GET /api/v1/changes): one row per record write, with a
-- per-tenant sequence number taken from change_heads inside the writing
-- transaction. The head row stays locked until that transaction commits,
-- so sequence order is commit order and no reader sees seq N+1 before N.
CREATE TABLE change_heads (
    tenant_id TEXT PRIMARY KEY,
    last_seq  BIGINT NOT NULL
);
CREATE TABLE record_changes (
    tenant_id TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    op        TEXT NOT NULL,
    object    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    CHECK (op IN ('create', 'update', 'delete'))
);
-- Existing tenants start at 0; their existing records need no events,
-- since a mirror's first sync copies everything.
INSERT INTO change_heads (tenant_id, last_seq) SELECT id, 0 FROM tenants;

GRANT SELECT, INSERT, UPDATE ON change_heads TO haven_app;
-- Change events are appended, never changed, by the application.
GRANT SELECT, INSERT ON record_changes TO haven_app;
ALTER TABLE change_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON change_heads USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
CREATE POLICY tenant_isolation ON record_changes USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
