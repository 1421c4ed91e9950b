-- Password recovery: at most one live code per user, stored only as an
-- argon2id hash; a new start replaces it, a successful finish deletes it.
CREATE TABLE recovery_codes (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL,
    id         TEXT NOT NULL,
    channel    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

-- Platform table: recovery rate-limit events, one row per counted request,
-- keyed by a hash of what was counted (tenant and login, IP, phone number)
-- so that the table holds no plain identifiers. Rows older than the
-- longest window are deleted.
CREATE TABLE recovery_rate_events (
    scope    TEXT NOT NULL,
    key_hash BLOB NOT NULL,
    at       INTEGER NOT NULL,
    id       TEXT NOT NULL,
    PRIMARY KEY (scope, key_hash, at, id)
);
CREATE INDEX recovery_rate_events_at ON recovery_rate_events (at);
