-- no-transaction
-- Search (PROTOCOL.md §7, docs/search.md): os=NAME (ASCII case-insensitive).
-- Built CONCURRENTLY so that nodes keep writing sessions while it runs
-- (see docs/operations.md, "Schema changes"). One statement per file: a
-- multi-statement query would run as one transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_site_os ON sessions(site_id, lower(os), started_at DESC, id DESC);
