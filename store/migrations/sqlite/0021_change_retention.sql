-- Retention of the change feed: change rows older than the retention
-- period are purged. purged_through is the highest sequence number
-- removed so far (0: none), kept on the head row so that the feed can
-- tell a cursor older than what is left (the client must take a full
-- copy again) from one at the boundary, which still loses nothing.
-- (SQLite cannot add a CHECK to an existing table; the store keeps
-- purged_through at or below last_seq.)
ALTER TABLE change_heads ADD COLUMN purged_through INTEGER NOT NULL DEFAULT 0;
