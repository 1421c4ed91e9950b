-- Earlier password hashes of each user (argon2id, never the passwords),
-- newest with the highest seq, so that a new password can be compared with
-- the last N through their hashes. At most 24 are kept per user.
CREATE TABLE password_history (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    replaced_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, seq),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
