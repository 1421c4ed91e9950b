-- The audit trail becomes a hash chain: every event carries its hash
-- (over its canonical content and the previous event's hash), each head
-- the last hash and where the last signed checkpoint stands. Events
-- already stored are chained by the server on its next start.
ALTER TABLE audit_events ADD COLUMN via TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';

-- audit_heads loses its foreign key: the platform's own trail is tenant ''.
ALTER TABLE audit_heads DROP CONSTRAINT IF EXISTS audit_heads_tenant_id_fkey;
ALTER TABLE audit_heads ADD COLUMN last_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_heads ADD COLUMN checkpoint_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN checkpoint_at BIGINT NOT NULL DEFAULT 0;
INSERT INTO audit_heads (tenant_id, last_seq) VALUES ('', 0);

-- Signed checkpoints, and the anchors retention purges leave behind.
CREATE TABLE audit_checkpoints (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (tenant_id, kind, seq),
    CHECK (kind IN ('checkpoint', 'anchor'))
);
GRANT SELECT, INSERT, DELETE ON audit_checkpoints TO haven_app;
-- UPDATE only so that events stored before this migration get their
-- hash, DELETE only for retention purges; the trigger below enforces both.
GRANT UPDATE, DELETE ON audit_events TO haven_app;
ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_checkpoints USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));

-- Append-only: no code path updates or deletes audit rows, and the
-- database refuses it too. The one exception is a retention purge, which
-- may delete events (and checkpoints) at or before a signed anchor.
CREATE FUNCTION haven_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF TG_TABLE_NAME = 'audit_events' AND OLD.hash = '' AND NEW.tenant_id = OLD.tenant_id AND NEW.seq = OLD.seq
           AND NEW.changes = OLD.changes AND NEW.at = OLD.at AND NEW.actor_id = OLD.actor_id AND NEW.action = OLD.action
           AND NEW.object_id = OLD.object_id THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit records are append-only';
    END IF;
    IF TG_TABLE_NAME = 'audit_checkpoints' AND OLD.kind = 'anchor' THEN
        RAISE EXCEPTION 'audit anchors are permanent';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_checkpoints a WHERE a.tenant_id = OLD.tenant_id AND a.kind = 'anchor' AND a.seq >= OLD.seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit records are append-only; only a retention purge behind a signed anchor removes them';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION haven_audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION haven_audit_append_only();
