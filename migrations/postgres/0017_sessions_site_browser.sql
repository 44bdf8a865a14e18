-- no-transaction
-- Search (PROTOCOL.md §7, docs/search.md): browser=NAME (ASCII case-insensitive).
-- Built CONCURRENTLY so that nodes keep writing sessions while it runs
-- (see docs/operations.md, "Schema changes"). One statement per file: a
-- multi-statement query would run as one transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_site_browser ON sessions(site_id, lower(browser), started_at DESC, id DESC);
