-- Earlier password hashes of each user (argon2id, never the passwords),
-- newest with the highest seq, so that a new password can be compared with
-- the last N through their hashes. At most 24 are kept per user.
CREATE TABLE password_history (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    replaced_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, seq),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
GRANT SELECT, INSERT, DELETE ON password_history TO haven_app;
ALTER TABLE password_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON password_history USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
