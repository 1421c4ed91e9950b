-- The operator realm: the vendor's operators and their sessions. These
-- are platform tables (no tenant_id): an operator belongs to no tenant,
-- and nothing here is a tenant's data. The e-mail is stored lower-case;
-- the expression index keeps it unique however it was typed.
CREATE TABLE operators (
    id                   TEXT PRIMARY KEY,
    email                TEXT NOT NULL,
    name                 TEXT NOT NULL,
    role                 TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT true,
    password_changed_at  BIGINT NOT NULL,
    totp_secret          BYTEA NOT NULL,
    totp_last_step       BIGINT NOT NULL DEFAULT 0,
    failed_attempts      INTEGER NOT NULL DEFAULT 0,
    locked_until         BIGINT,
    created_at           BIGINT NOT NULL,
    deactivated_at       BIGINT,
    CHECK (role IN ('support', 'sre', 'security')),
    CHECK (failed_attempts >= 0)
);
CREATE UNIQUE INDEX operators_email ON operators (lower(email));

-- Only the SHA-256 of a session token is stored.
CREATE TABLE operator_sessions (
    id           TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL REFERENCES operators(id),
    token_hash   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    ip           TEXT NOT NULL,
    user_agent   TEXT NOT NULL
);
CREATE UNIQUE INDEX operator_sessions_token ON operator_sessions (token_hash);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

-- No DELETE: operators are deactivated, sessions revoked, so the
-- platform trail's actor IDs keep naming a row.
GRANT SELECT, INSERT, UPDATE ON operators, operator_sessions TO haven_app;
-- Only platform transactions (tenant '') see or write these rows: a
-- tenant transaction, even one with a bug or an injection, reads
-- nothing here, and a connection that never named a tenant reads NULL
-- and sees nothing either.
ALTER TABLE operators ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON operators USING (current_setting('haven.tenant_id', true) = '') WITH CHECK (current_setting('haven.tenant_id', true) = '');
CREATE POLICY platform_only ON operator_sessions USING (current_setting('haven.tenant_id', true) = '') WITH CHECK (current_setting('haven.tenant_id', true) = '');
