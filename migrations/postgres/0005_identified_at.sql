-- When the node received the identify a session's user_id comes from (ms),
-- so that an older identify applied late (replayed from a spool) does not
-- replace a newer one. Additive and online: a nullable column without a
-- default changes only the catalogue, not the rows.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS identified_at BIGINT;
