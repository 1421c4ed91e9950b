-- One-click exports of all of a tenant's data (package export). The zip
-- lives under the data directory; this row says who asked for it, how far
-- the job got, what the file holds (size, SHA-256) and until when its
-- requester may download it. A passphrase, when one was given, is kept
-- only sealed under the tenant's data key and erased when the job ends.
CREATE TABLE exports (
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    id                TEXT NOT NULL,
    requested_by      TEXT NOT NULL,
    job_id            TEXT NOT NULL DEFAULT '',
    scope             TEXT NOT NULL,
    status            TEXT NOT NULL,
    records_done      BIGINT NOT NULL DEFAULT 0,
    records_total     BIGINT NOT NULL DEFAULT 0,
    file_name         TEXT NOT NULL DEFAULT '',
    size              BIGINT NOT NULL DEFAULT 0,
    sha256            TEXT NOT NULL DEFAULT '',
    encryption        TEXT NOT NULL,
    recipient         TEXT NOT NULL DEFAULT '',
    passphrase_sealed TEXT NOT NULL DEFAULT '',
    error_message     TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    finished_at       BIGINT,
    expires_at        BIGINT,
    deleted_at        BIGINT,
    PRIMARY KEY (tenant_id, id),
    CHECK (status IN ('queued', 'running', 'done', 'failed')),
    CHECK (encryption IN ('none', 'recipient', 'passphrase')),
    CHECK (records_done >= 0 AND records_total >= 0 AND size >= 0)
);
CREATE INDEX exports_tenant_created ON exports (tenant_id, created_at);
-- Rows are marked deleted, never removed: they are the tenant's record of
-- what left the system.
GRANT SELECT, INSERT, UPDATE ON exports TO haven_app;
ALTER TABLE exports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON exports USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
