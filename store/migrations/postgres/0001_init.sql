CREATE TABLE tenants (
    id             TEXT PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL,
    contract_start BIGINT NOT NULL,
    contract_end   BIGINT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE users (
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    id                   TEXT NOT NULL,
    email                TEXT,
    phone                TEXT,
    name                 TEXT NOT NULL,
    role                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT false,
    password_changed_at  BIGINT NOT NULL,
    last_login_at        BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_email ON users (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_phone ON users (tenant_id, phone) WHERE phone IS NOT NULL;

CREATE TABLE sessions (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    token_hash   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    ip           TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE UNIQUE INDEX sessions_token ON sessions (tenant_id, token_hash);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE objects (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    label      TEXT NOT NULL,
    label_zh   TEXT NOT NULL,
    name_field TEXT NOT NULL,
    standard   BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE fields (
    tenant_id     TEXT NOT NULL,
    object        TEXT NOT NULL,
    name          TEXT NOT NULL,
    label         TEXT NOT NULL,
    label_zh      TEXT NOT NULL,
    type          TEXT NOT NULL,
    required      BOOLEAN NOT NULL,
    custom        BOOLEAN NOT NULL,
    options       TEXT NOT NULL,
    lookup_object TEXT NOT NULL,
    max_length    INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, object, name),
    FOREIGN KEY (tenant_id, object) REFERENCES objects (tenant_id, name)
);

CREATE TABLE records (
    tenant_id  TEXT NOT NULL,
    object     TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    BIGINT NOT NULL,
    owner_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    fields     JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, object, id),
    FOREIGN KEY (tenant_id, object) REFERENCES objects (tenant_id, name)
);
CREATE INDEX records_created ON records (tenant_id, object, created_at, id);
CREATE INDEX records_updated ON records (tenant_id, object, updated_at, id);
CREATE INDEX records_name ON records (tenant_id, object, name, id);
CREATE INDEX records_owner ON records (tenant_id, object, owner_id, created_at, id);

CREATE TABLE audit_heads (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    last_seq  BIGINT NOT NULL
);

CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    object_name TEXT NOT NULL,
    ip          TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    changes     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_object ON audit_events (tenant_id, object_type, object_id, seq);
CREATE INDEX audit_at ON audit_events (tenant_id, at, seq);
CREATE INDEX audit_actor ON audit_events (tenant_id, actor_id, seq);

-- The application works as haven_app, a role without BYPASSRLS, so that
-- row-level security holds even when the connecting user is an owner or
-- superuser. Each transaction names its tenant with
-- set_config('haven.tenant_id', ..., true); without it no tenant row is visible.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'haven_app') THEN
        CREATE ROLE haven_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- another migrator created it concurrently
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO haven_app', current_schema());
END
$$;
GRANT SELECT, INSERT, UPDATE ON tenants TO haven_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions, objects, fields, records TO haven_app;
GRANT SELECT, INSERT, UPDATE ON audit_heads TO haven_app;
-- Audit events are append-only for the application.
GRANT SELECT, INSERT ON audit_events TO haven_app;

ALTER TABLE users        ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions     ENABLE ROW LEVEL SECURITY;
ALTER TABLE objects      ENABLE ROW LEVEL SECURITY;
ALTER TABLE fields       ENABLE ROW LEVEL SECURITY;
ALTER TABLE records      ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads  ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON users        USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
CREATE POLICY tenant_isolation ON sessions     USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
CREATE POLICY tenant_isolation ON objects      USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
CREATE POLICY tenant_isolation ON fields       USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
CREATE POLICY tenant_isolation ON records      USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_heads  USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_events USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
