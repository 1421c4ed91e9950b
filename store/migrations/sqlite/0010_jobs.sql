-- Durable background jobs (package jobs). A worker claims a due job by
-- taking a lease (lease_token, lease_until) in one guarded UPDATE, so a job
-- runs on one instance at a time and another resumes it from cursor once
-- the lease runs out after a crash.
CREATE TABLE jobs (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    id            TEXT NOT NULL,
    kind          TEXT NOT NULL,
    dedup_key     TEXT NOT NULL DEFAULT '',
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL,
    total         INTEGER NOT NULL DEFAULT 0,
    done          INTEGER NOT NULL DEFAULT 0,
    cursor        TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    not_before    INTEGER NOT NULL,
    lease_owner   TEXT NOT NULL DEFAULT '',
    lease_token   TEXT NOT NULL DEFAULT '',
    lease_until   INTEGER,
    finished_at   INTEGER,
    PRIMARY KEY (tenant_id, id),
    CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    CHECK ((state = 'running') = (lease_until IS NOT NULL)),
    CHECK ((state IN ('succeeded', 'failed')) = (finished_at IS NOT NULL)),
    CHECK (attempts >= 0 AND total >= 0 AND done >= 0)
);
-- A tenant's job list, newest first.
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at);
-- At most one unfinished job per tenant and key (e.g. one export at a time).
CREATE UNIQUE INDEX jobs_unfinished_key ON jobs (tenant_id, dedup_key) WHERE dedup_key <> '' AND state IN ('queued', 'running');
-- The workers' cross-tenant search for due work.
CREATE INDEX jobs_due ON jobs (state, not_before);
