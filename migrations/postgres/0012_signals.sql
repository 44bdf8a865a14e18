-- Support context (PROTOCOL.md §7): what went wrong for the visitor,
-- counted by the session actor as events stream by and committed with
-- each segment. Additive and online: columns with a constant default are
-- added without rewriting the table, and a node on the previous schema
-- keeps recording without them.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS failed_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS rage_clicks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS dead_clicks BIGINT NOT NULL DEFAULT 0;

-- Distinct `reel.track` names of a session (at most MAX_TRACK_NAMES).
CREATE TABLE IF NOT EXISTS session_track_events (
    session_id     TEXT NOT NULL,
    site_id        BIGINT NOT NULL,
    name           TEXT NOT NULL,
    -- ms since the Unix epoch: the event's timestamp when first seen.
    first_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (session_id, name)
);

-- Distinct console error and `error` event texts of a session (at most
-- MAX_ERROR_TEXTS, each at most ERROR_TEXT_MAX_BYTES), for `error_contains`.
CREATE TABLE IF NOT EXISTS session_error_texts (
    session_id  TEXT NOT NULL,
    site_id     BIGINT NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (session_id, text)
);
