-- A tenant's own key-encryption key (bring your own key): which provider
-- and which key wrap its data keys instead of the platform KEK. Only a
-- reference: PINs and credentials stay in the server's configuration.
CREATE TABLE tenant_kek (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    provider   TEXT NOT NULL,
    key_ref    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id),
    CHECK (provider <> '' AND key_ref <> '')
);
