-- Login lockout and CAPTCHA state. Everything here lives in the database
-- so that counters, locks and challenges survive restarts and hold across
-- several server instances.

-- Consecutive failed sign-ins of one login subject of a tenant: a user
-- ("u:" + user id) or a login that names no user ("l:" + hash), so that
-- unknown logins are throttled and locked exactly like real accounts.
CREATE TABLE login_attempts (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    subject         TEXT NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure_at BIGINT,
    locked_at       BIGINT,
    locked_until    BIGINT, -- NULL with locked_at set: until an admin unlocks
    PRIMARY KEY (tenant_id, subject)
);

-- The same for sign-ins naming a tenant that does not exist or is not
-- active (subject "t:" + hash of slug and login); platform-wide.
CREATE TABLE platform_login_attempts (
    subject         TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at BIGINT,
    locked_at       BIGINT,
    locked_until    BIGINT
);

-- Failed sign-ins per client address across all tenants and accounts in
-- a fixed one-hour window starting at the window's first failure.
CREATE TABLE login_ip_failures (
    ip           TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     INTEGER NOT NULL
);
CREATE INDEX login_ip_failures_window ON login_ip_failures (window_start);

-- Image CAPTCHA challenges. Neither the challenge ID nor its answer is
-- stored: id_hash finds the row, answer_hash checks an answer, and the
-- digits (needed to draw the image on any instance) are sealed under a key
-- derived from the ID, which only the client holds.
CREATE TABLE captcha_challenges (
    id_hash     BYTEA PRIMARY KEY,
    answer_hash BYTEA NOT NULL,
    sealed      BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX captcha_challenges_expiry ON captcha_challenges (expires_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON login_attempts TO haven_app;
ALTER TABLE login_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON login_attempts USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));

-- Platform-wide tables: no tenant, so no row-level security.
GRANT SELECT, INSERT, UPDATE, DELETE ON platform_login_attempts, login_ip_failures, captcha_challenges TO haven_app;
