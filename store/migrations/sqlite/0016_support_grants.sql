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
    version     INTEGER NOT NULL,
    grant_json  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX support_grants_operator ON support_grants (operator_id, state);

-- How many different admins must approve a request (1 or 2).
CREATE TABLE support_settings (
    tenant_id          TEXT PRIMARY KEY REFERENCES tenants(id),
    required_approvals INTEGER NOT NULL CHECK (required_approvals IN (1, 2))
);
