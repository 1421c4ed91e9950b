-- Field protection: encryption, blind-index search and per-role
-- visibility live in the field metadata. Existing tenants get the same
-- defaults as new ones; crypto_pending makes the server encrypt their
-- stored values in a background job on its next start.
ALTER TABLE fields ADD COLUMN encrypted BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE fields ADD COLUMN searchable BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE fields ADD COLUMN crypto_pending BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE fields ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';

UPDATE fields SET encrypted = true, searchable = true, crypto_pending = true, policy = '{"mask":"mobile","levels":{"admin":"edit","manager":"edit","sales":"masked"},"reveal":["sales"]}'
    WHERE object IN ('contact', 'lead') AND name = 'mobile' AND custom = false;
UPDATE fields SET encrypted = true, searchable = true, crypto_pending = true, policy = '{"mask":"email","levels":{"admin":"edit","manager":"edit","sales":"masked"},"reveal":["sales"]}'
    WHERE object IN ('contact', 'lead') AND name = 'email' AND custom = false;
UPDATE fields SET encrypted = true, searchable = true, crypto_pending = true, policy = '{"mask":"id_number","levels":{"admin":"edit","manager":"edit","sales":"masked"}}'
    WHERE object IN ('contact', 'lead') AND name = 'id_number' AND custom = false;
UPDATE fields SET encrypted = true, searchable = false, crypto_pending = true, policy = '{"mask":"bank_card","levels":{"admin":"edit","manager":"edit","sales":"masked"}}'
    WHERE object IN ('contact', 'lead') AND name = 'bank_account' AND custom = false;
UPDATE fields SET encrypted = true, searchable = false, crypto_pending = true, policy = '{"mask":"address","levels":{"admin":"edit","manager":"edit","sales":"masked"},"reveal":["sales"]}'
    WHERE object IN ('contact', 'lead') AND name = 'address' AND custom = false;

-- record_index holds blind indexes (keyed HMACs) of searchable encrypted
-- values, one row per record and field, with the key term that made it.
CREATE TABLE record_index (
    tenant_id TEXT NOT NULL,
    object    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    term      BIGINT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, object, record_id, field)
);
CREATE INDEX record_index_lookup ON record_index (tenant_id, object, field, value);
GRANT SELECT, INSERT, UPDATE, DELETE ON record_index TO haven_app;
ALTER TABLE record_index ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_index USING (tenant_id = current_setting('haven.tenant_id', true)) WITH CHECK (tenant_id = current_setting('haven.tenant_id', true));
