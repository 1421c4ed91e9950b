-- Files attached to records. The file itself lives encrypted outside the
-- database (see package attachments); this row holds its file key and
-- original name sealed with the tenant's data key (fieldcrypt envelopes),
-- and in clear only what is not sensitive.
CREATE TABLE attachments (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    object       TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    name_sealed  TEXT NOT NULL,
    key_sealed   TEXT NOT NULL,
    key_term     BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    format       INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK (size >= 0),
    CHECK (key_term > 0)
);
CREATE INDEX attachments_record ON attachments (tenant_id, object, record_id, created_at, id);
CREATE INDEX attachments_term ON attachments (tenant_id, key_term, id);
GRANT SELECT, INSERT, UPDATE, DELETE ON attachments TO haven_app;
ALTER TABLE attachments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON attachments USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
