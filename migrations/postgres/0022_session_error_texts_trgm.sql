-- no-transaction
-- Search (PROTOCOL.md §7, docs/search.md): error_contains=S (ILIKE '%S%' by trigrams).
-- Built CONCURRENTLY so that nodes keep writing sessions while it runs
-- (see docs/operations.md, "Schema changes"). One statement per file: a
-- multi-statement query would run as one transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS session_error_texts_trgm ON session_error_texts USING gin (text gin_trgm_ops);
