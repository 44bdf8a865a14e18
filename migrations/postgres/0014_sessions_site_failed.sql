-- no-transaction
-- Search (PROTOCOL.md §7, docs/search.md): has_failed_requests=true.
-- Built CONCURRENTLY so that nodes keep writing sessions while it runs
-- (see docs/operations.md, "Schema changes"). One statement per file: a
-- multi-statement query would run as one transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_site_failed ON sessions(site_id, started_at DESC, id DESC) WHERE failed_requests > 0;
