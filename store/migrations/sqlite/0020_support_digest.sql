-- When the digest of an ended grant (what the operator viewed or changed)
-- was e-mailed to the tenant's admins; NULL until then. Claiming the row
-- by setting it makes the digest go out once across instances.
ALTER TABLE support_grants ADD COLUMN digest_at INTEGER;
CREATE INDEX support_grants_digest ON support_grants (state) WHERE digest_at IS NULL;
