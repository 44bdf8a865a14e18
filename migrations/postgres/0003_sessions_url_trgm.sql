-- no-transaction
-- Built CONCURRENTLY so that nodes keep writing sessions while it runs
-- (see docs/operations.md, "Schema changes"). One statement per file: a
-- multi-statement query would run as one transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_first_url_trgm ON sessions USING gin (first_url gin_trgm_ops);
