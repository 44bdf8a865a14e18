-- Support context (PROTOCOL.md §7): what went wrong for the visitor,
-- counted by the session actor as events stream by and committed with
-- each segment. Additive: a node on the previous schema keeps recording
-- without these columns and tables.
ALTER TABLE sessions ADD COLUMN failed_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN rage_clicks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN dead_clicks INTEGER NOT NULL DEFAULT 0;

-- Distinct `reel.track` names of a session (at most MAX_TRACK_NAMES).
CREATE TABLE session_track_events (
    session_id     TEXT NOT NULL,
    site_id        INTEGER NOT NULL,
    name           TEXT NOT NULL,
    -- ms since the Unix epoch: the event's timestamp when first seen.
    first_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (session_id, name)
);

-- Distinct console error and `error` event texts of a session (at most
-- MAX_ERROR_TEXTS, each at most ERROR_TEXT_MAX_BYTES), for `error_contains`.
CREATE TABLE session_error_texts (
    session_id  TEXT NOT NULL,
    site_id     INTEGER NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (session_id, text)
);
