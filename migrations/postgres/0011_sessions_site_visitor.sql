-- no-transaction
-- Erasure by visitor id (PROTOCOL.md §6). Built CONCURRENTLY so that nodes
-- keep writing sessions while it runs (see docs/operations.md, "Schema
-- changes"). One statement per file.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_site_visitor ON sessions(site_id, visitor_id);
