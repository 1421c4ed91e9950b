-- How long a tenant's audit events are kept before the retention purge
-- removes them behind a signed anchor. A tenant without a row keeps the
-- platform default (3 years). The CHECK repeats the platform minimum so
-- that no code path, buggy or not, can store a shorter period.
CREATE TABLE audit_settings (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    retention_days INTEGER NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id),
    CHECK (retention_days >= 180 AND retention_days <= 3650)
);
GRANT SELECT, INSERT, UPDATE ON audit_settings TO haven_app;
ALTER TABLE audit_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_settings USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));

-- The append-only trigger function of 0013 named OLD.kind and OLD.hash in
-- conditions that PL/pgSQL evaluates for both tables, so any DELETE of an
-- audit event failed with 'record "old" has no field "kind"', even a
-- retention purge behind a signed anchor. Same rules, each table's
-- columns read only for that table.
CREATE OR REPLACE FUNCTION haven_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF TG_TABLE_NAME = 'audit_events' THEN
            IF OLD.hash = '' AND NEW.tenant_id = OLD.tenant_id AND NEW.seq = OLD.seq
               AND NEW.changes = OLD.changes AND NEW.at = OLD.at AND NEW.actor_id = OLD.actor_id AND NEW.action = OLD.action
               AND NEW.object_id = OLD.object_id THEN
                RETURN NEW;
            END IF;
        END IF;
        RAISE EXCEPTION 'audit records are append-only';
    END IF;
    IF TG_TABLE_NAME = 'audit_checkpoints' THEN
        IF OLD.kind = 'anchor' THEN
            RAISE EXCEPTION 'audit anchors are permanent';
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM audit_checkpoints a WHERE a.tenant_id = OLD.tenant_id AND a.kind = 'anchor' AND a.seq >= OLD.seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit records are append-only; only a retention purge behind a signed anchor removes them';
END;
$$;
