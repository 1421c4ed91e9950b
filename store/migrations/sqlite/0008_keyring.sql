CREATE TABLE tenant_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    term         INTEGER NOT NULL,
    kek_id       TEXT NOT NULL,
    wrapped      BLOB,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER,
    destroyed_at INTEGER,
    PRIMARY KEY (tenant_id, term),
    CHECK (state IN ('active', 'retired', 'destroyed')),
    CHECK ((state = 'destroyed') = (wrapped IS NULL))
);
