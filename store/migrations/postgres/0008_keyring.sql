CREATE TABLE tenant_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    term         BIGINT NOT NULL,
    kek_id       TEXT NOT NULL,
    wrapped      BYTEA,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT,
    destroyed_at BIGINT,
    PRIMARY KEY (tenant_id, term),
    CHECK (state IN ('active', 'retired', 'destroyed')),
    CHECK ((state = 'destroyed') = (wrapped IS NULL))
);
GRANT SELECT, INSERT, UPDATE ON tenant_keys TO haven_app;
ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_keys USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
