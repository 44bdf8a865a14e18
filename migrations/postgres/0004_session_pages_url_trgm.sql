-- no-transaction
-- As 0003, for every URL a session visited.
CREATE INDEX CONCURRENTLY IF NOT EXISTS session_pages_url_trgm ON session_pages USING gin (url gin_trgm_ops);
