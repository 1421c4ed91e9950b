-- Field protection: encryption, blind-index search and per-role
-- visibility live in the field metadata. Existing tenants get the same
-- defaults as new ones; crypto_pending makes the server encrypt their
-- stored values in a background job on its next start.
ALTER TABLE fields ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fields ADD COLUMN searchable INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fields ADD COLUMN crypto_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fields ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';

UPDATE fields SET encrypted = 1, searchable = 1, crypto_pending = 1, policy = '{"mask":"mobile","levels":{"admin":"edit","manager":"edit","sales":"masked"},"reveal":["sales"]}'
    WHERE object IN ('contact', 'lead') AND name = 'mobile' AND custom = 0;
UPDATE fields SET encrypted = 1, searchable = 1, crypto_pending = 1, policy = '{"mask":"email","levels":{"admin":"edit","manager":"edit","sales":"masked"},"reveal":["sales"]}'
    WHERE object IN ('contact', 'lead') AND name = 'email' AND custom = 0;
UPDATE fields SET encrypted = 1, searchable = 1, crypto_pending = 1, policy = '{"mask":"id_number","levels":{"admin":"edit","manager":"edit","sales":"masked"}}'
    WHERE object IN ('contact', 'lead') AND name = 'id_number' AND custom = 0;
UPDATE fields SET encrypted = 1, searchable = 0, crypto_pending = 1, policy = '{"mask":"bank_card","levels":{"admin":"edit","manager":"edit","sales":"masked"}}'
    WHERE object IN ('contact', 'lead') AND name = 'bank_account' AND custom = 0;
UPDATE fields SET encrypted = 1, searchable = 0, crypto_pending = 1, policy = '{"mask":"address","levels":{"admin":"edit","manager":"edit","sales":"masked"},"reveal":["sales"]}'
    WHERE object IN ('contact', 'lead') AND name = 'address' AND custom = 0;

-- record_index holds blind indexes (keyed HMACs) of searchable encrypted
-- values, one row per record and field, with the key term that made it.
CREATE TABLE record_index (
    tenant_id TEXT NOT NULL,
    object    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    term      INTEGER NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, object, record_id, field)
);
CREATE INDEX record_index_lookup ON record_index (tenant_id, object, field, value);
