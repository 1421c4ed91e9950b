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
    must_change_password BOOLEAN NOT NULL DEFAULT 1,
    password_changed_at  INTEGER NOT NULL,
    totp_secret          BLOB NOT NULL,
    totp_last_step       INTEGER NOT NULL DEFAULT 0,
    failed_attempts      INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    created_at           INTEGER NOT NULL,
    deactivated_at       INTEGER,
    CHECK (role IN ('support', 'sre', 'security')),
    CHECK (failed_attempts >= 0)
);
CREATE UNIQUE INDEX operators_email ON operators (lower(email));

-- Only the SHA-256 of a session token is stored.
CREATE TABLE operator_sessions (
    id           TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL REFERENCES operators(id),
    token_hash   BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    ip           TEXT NOT NULL,
    user_agent   TEXT NOT NULL
);
CREATE UNIQUE INDEX operator_sessions_token ON operator_sessions (token_hash);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
