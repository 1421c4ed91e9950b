-- Platform table: one row per tenant.
CREATE TABLE tenants (
    id             TEXT PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL,
    contract_start INTEGER NOT NULL,
    contract_end   INTEGER,
    created_at     INTEGER NOT NULL
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
    must_change_password INTEGER NOT NULL DEFAULT 0,
    password_changed_at  INTEGER NOT NULL,
    last_login_at        INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_email ON users (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_phone ON users (tenant_id, phone) WHERE phone IS NOT NULL;

CREATE TABLE sessions (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    token_hash   BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
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
    standard   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE fields (
    tenant_id     TEXT NOT NULL,
    object        TEXT NOT NULL,
    name          TEXT NOT NULL,
    label         TEXT NOT NULL,
    label_zh      TEXT NOT NULL,
    type          TEXT NOT NULL,
    required      INTEGER NOT NULL,
    custom        INTEGER NOT NULL,
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
    version    INTEGER NOT NULL,
    owner_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    fields     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, object, id),
    FOREIGN KEY (tenant_id, object) REFERENCES objects (tenant_id, name)
);
CREATE INDEX records_created ON records (tenant_id, object, created_at, id);
CREATE INDEX records_updated ON records (tenant_id, object, updated_at, id);
CREATE INDEX records_name ON records (tenant_id, object, name, id);
CREATE INDEX records_owner ON records (tenant_id, object, owner_id, created_at, id);

-- audit_heads holds each tenant's last audit sequence number; updating it
-- serializes appends per tenant.
CREATE TABLE audit_heads (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    last_seq  INTEGER NOT NULL
);

CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
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
