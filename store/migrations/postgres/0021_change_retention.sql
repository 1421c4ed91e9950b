-- Retention of the change feed: change rows older than the retention
-- period are purged. purged_through is the highest sequence number
-- removed so far (0: none), kept on the head row so that the feed can
-- tell a cursor older than what is left (the client must take a full
-- copy again) from one at the boundary, which still loses nothing.
ALTER TABLE change_heads ADD COLUMN purged_through BIGINT NOT NULL DEFAULT 0;
ALTER TABLE change_heads ADD CONSTRAINT change_heads_purged_through CHECK (purged_through >= 0 AND purged_through <= last_seq);
-- The purge removes old rows; nothing else deletes from the feed.
GRANT DELETE ON record_changes TO haven_app;
