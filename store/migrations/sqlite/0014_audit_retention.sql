-- How long a tenant's audit events are kept before the retention purge
-- removes them behind a signed anchor. A tenant without a row keeps the
-- platform default (3 years). The CHECK repeats the platform minimum so
-- that no code path, buggy or not, can store a shorter period.
CREATE TABLE audit_settings (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    retention_days INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id),
    CHECK (retention_days >= 180 AND retention_days <= 3650)
);
