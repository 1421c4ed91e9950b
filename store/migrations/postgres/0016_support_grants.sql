-- Operator access grants (package supportaccess): one row per request,
-- the whole grant (scope, approvals, decisions) as JSON beside the
-- columns lists filter on. version makes every transition a
-- compare-and-set, so two admins deciding at once cannot both win.
CREATE TABLE support_grants (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    grant_json  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX support_grants_operator ON support_grants (operator_id, state);

CREATE TABLE support_settings (
    tenant_id          TEXT PRIMARY KEY REFERENCES tenants(id),
    required_approvals INTEGER NOT NULL CHECK (required_approvals IN (1, 2))
);
GRANT SELECT, INSERT, UPDATE ON support_grants, support_settings TO haven_app;
ALTER TABLE support_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE support_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON support_grants USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
CREATE POLICY tenant_isolation ON support_settings USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
-- The operator side lists an operator's own grants across tenants in a
-- platform transaction (tenant ''); it reads, never writes, that way.
CREATE POLICY platform_read ON support_grants FOR SELECT USING (current_setting('haven.tenant_id', true) = '');
