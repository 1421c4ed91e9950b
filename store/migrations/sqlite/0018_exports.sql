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
    records_done      INTEGER NOT NULL DEFAULT 0,
    records_total     INTEGER NOT NULL DEFAULT 0,
    file_name         TEXT NOT NULL DEFAULT '',
    size              INTEGER NOT NULL DEFAULT 0,
    sha256            TEXT NOT NULL DEFAULT '',
    encryption        TEXT NOT NULL,
    recipient         TEXT NOT NULL DEFAULT '',
    passphrase_sealed TEXT NOT NULL DEFAULT '',
    error_message     TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    expires_at        INTEGER,
    deleted_at        INTEGER,
    PRIMARY KEY (tenant_id, id),
    CHECK (status IN ('queued', 'running', 'done', 'failed')),
    CHECK (encryption IN ('none', 'recipient', 'passphrase')),
    CHECK (records_done >= 0 AND records_total >= 0 AND size >= 0)
);
CREATE INDEX exports_tenant_created ON exports (tenant_id, created_at);
