-- no-transaction
-- Search (PROTOCOL.md §7, docs/search.md): trait=KEY:VALUE (user_traits @> {KEY: VALUE}).
-- Built CONCURRENTLY so that nodes keep writing sessions while it runs
-- (see docs/operations.md, "Schema changes"). One statement per file: a
-- multi-statement query would run as one transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_user_traits ON sessions USING gin ((CAST(user_traits AS jsonb)) jsonb_path_ops);
