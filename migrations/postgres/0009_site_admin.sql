-- Site administration (PATCH /api/v1/sites/{id}): how long a site keeps
-- its recordings, and when an admin last changed it. Nodes poll the sites
-- changed lately (by updated_at) to tell connected trackers new settings
-- when the bus's hint is lost. Additive: a node on the previous schema
-- reads sites without these columns (retention 90 days, never changed).
ALTER TABLE sites ADD COLUMN IF NOT EXISTS retention_days BIGINT NOT NULL DEFAULT 90;
-- ms since the Unix epoch; 0: not changed since the column was added.
ALTER TABLE sites ADD COLUMN IF NOT EXISTS updated_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS sites_updated ON sites(updated_at);
