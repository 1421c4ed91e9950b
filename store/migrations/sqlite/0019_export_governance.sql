-- Export governance (package exportgov): per tenant, which roles may
-- export lists and which may export all data (JSON arrays of role names),
-- each user's daily export row quota and the size from which admins are
-- told about an export. A tenant without a row has the defaults. The
-- CHECKs repeat the service's bounds so that no code path can store a
-- negative quota.
CREATE TABLE export_settings (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    list_roles       TEXT NOT NULL,
    full_roles       TEXT NOT NULL,
    daily_row_quota  INTEGER NOT NULL,
    notify_threshold INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id),
    CHECK (daily_row_quota >= 0),
    CHECK (notify_threshold >= 1)
);

-- Rows each user exported per day (YYYY-MM-DD in the tenant's time zone).
-- One row per tenant, user and day, charged with a single conditional
-- upsert so that concurrent exports can never together exceed the quota.
CREATE TABLE export_usage (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL,
    day        TEXT NOT NULL,
    rows_used  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, day),
    CHECK (rows_used >= 0)
);
