-- Search that finds the customer (PROTOCOL.md §7, docs/search.md): an
-- index per filter of the session list, so that a filtered page of 50
-- stays fast at 1,000,000 sessions (docs/PERFORMANCE.md, "Search").
-- Partial indexes in the list's order hold only the sessions with a
-- signal; the user-agent indexes hold lower() of the column, as the
-- query compares it. `trait` has no index on SQLite (json_each of the
-- rows walked in list order; see docs/search.md).

-- has_errors=true
CREATE INDEX IF NOT EXISTS sessions_site_errors ON sessions(site_id, started_at DESC, id DESC) WHERE console_errors > 0;

-- has_failed_requests=true
CREATE INDEX IF NOT EXISTS sessions_site_failed ON sessions(site_id, started_at DESC, id DESC) WHERE failed_requests > 0;

-- has_rage_clicks=true
CREATE INDEX IF NOT EXISTS sessions_site_rage ON sessions(site_id, started_at DESC, id DESC) WHERE rage_clicks > 0;

-- has_dead_clicks=true
CREATE INDEX IF NOT EXISTS sessions_site_dead ON sessions(site_id, started_at DESC, id DESC) WHERE dead_clicks > 0;

-- browser=NAME (ASCII case-insensitive)
CREATE INDEX IF NOT EXISTS sessions_site_browser ON sessions(site_id, lower(browser), started_at DESC, id DESC);

-- os=NAME (ASCII case-insensitive)
CREATE INDEX IF NOT EXISTS sessions_site_os ON sessions(site_id, lower(os), started_at DESC, id DESC);

-- device=NAME (ASCII case-insensitive)
CREATE INDEX IF NOT EXISTS sessions_site_device ON sessions(site_id, lower(device), started_at DESC, id DESC);

-- track=NAME
CREATE INDEX IF NOT EXISTS session_track_events_site_name ON session_track_events(site_id, name, session_id);

-- error_contains=S (the texts of a site)
CREATE INDEX IF NOT EXISTS session_error_texts_site ON session_error_texts(site_id, session_id);
