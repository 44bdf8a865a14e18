-- When the node received the identify a session's user_id comes from (ms),
-- so that an older identify applied late (replayed from a spool) does not
-- replace a newer one. Additive: NULL for sessions identified before.
ALTER TABLE sessions ADD COLUMN identified_at INTEGER;
