-- no-transaction
-- Search (PROTOCOL.md §7, docs/search.md): track=NAME.
-- Built CONCURRENTLY so that nodes keep writing sessions while it runs
-- (see docs/operations.md, "Schema changes"). One statement per file: a
-- multi-statement query would run as one transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS session_track_events_site_name ON session_track_events(site_id, name, session_id);
