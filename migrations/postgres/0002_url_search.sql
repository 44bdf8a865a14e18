-- no-transaction
-- URL search (`?url=` of the session list) is a substring match: trigram
-- indexes serve it. Built CONCURRENTLY so that nodes keep writing sessions
-- while this runs (see docs/operations.md, "Schema changes").
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_first_url_trgm
    ON sessions USING gin (first_url gin_trgm_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS session_pages_url_trgm
    ON session_pages USING gin (url gin_trgm_ops);
