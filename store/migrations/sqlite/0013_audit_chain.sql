-- The audit trail becomes a hash chain: every event carries its hash
-- (over its canonical content and the previous event's hash), each head
-- the last hash and where the last signed checkpoint stands. Events
-- already stored are chained by the server on its next start.
ALTER TABLE audit_events ADD COLUMN via TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';

-- audit_heads loses its foreign key: the platform's own trail is tenant ''.
CREATE TABLE audit_heads_new (
    tenant_id      TEXT PRIMARY KEY,
    last_seq       INTEGER NOT NULL,
    last_hash      TEXT NOT NULL DEFAULT '',
    checkpoint_seq INTEGER NOT NULL DEFAULT 0,
    checkpoint_at  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO audit_heads_new (tenant_id, last_seq) SELECT tenant_id, last_seq FROM audit_heads;
DROP TABLE audit_heads;
ALTER TABLE audit_heads_new RENAME TO audit_heads;
INSERT INTO audit_heads (tenant_id, last_seq) VALUES ('', 0);

-- Signed checkpoints, and the anchors retention purges leave behind.
CREATE TABLE audit_checkpoints (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    at        INTEGER NOT NULL,
    key_id    TEXT NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (tenant_id, kind, seq),
    CHECK (kind IN ('checkpoint', 'anchor'))
);

-- Append-only: no code path updates or deletes audit rows, and the
-- database refuses it too. The one exception is a retention purge, which
-- may delete events (and checkpoints) at or before a signed anchor. An
-- event without a hash (stored before this migration) may get its hash.
CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
WHEN OLD.hash <> '' OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.seq IS NOT OLD.seq OR NEW.changes IS NOT OLD.changes
    OR NEW.at IS NOT OLD.at OR NEW.actor_id IS NOT OLD.actor_id OR NEW.action IS NOT OLD.action OR NEW.object_id IS NOT OLD.object_id
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_checkpoints a WHERE a.tenant_id = OLD.tenant_id AND a.kind = 'anchor' AND a.seq >= OLD.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only; only a retention purge behind a signed anchor removes them');
END;
CREATE TRIGGER audit_checkpoints_append_only_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_append_only_delete BEFORE DELETE ON audit_checkpoints
WHEN OLD.kind = 'anchor'
    OR NOT EXISTS (SELECT 1 FROM audit_checkpoints a WHERE a.tenant_id = OLD.tenant_id AND a.kind = 'anchor' AND a.seq >= OLD.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
