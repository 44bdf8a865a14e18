-- reel index, first schema. Timestamps are INTEGER milliseconds since the
-- Unix epoch; every id and counter is a 64-bit INTEGER.

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES organizations(id),
    email       TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL DEFAULT 'member',
    created_at  INTEGER NOT NULL
);

CREATE TABLE sites (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES organizations(id),
    name            TEXT NOT NULL,
    site_key        TEXT NOT NULL UNIQUE,
    -- JSON array of origins; empty: any origin.
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    -- JSON object of tracker settings (reel_protocol::Settings).
    settings        TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL
);
CREATE INDEX sites_org ON sites(org_id);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    -- SHA-256 of the token, hex; the token itself is never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    site_id           INTEGER NOT NULL REFERENCES sites(id),
    visitor_id        TEXT NOT NULL,
    user_id           TEXT,
    user_traits       TEXT NOT NULL DEFAULT '{}',
    started_at        INTEGER NOT NULL,
    last_activity_at  INTEGER NOT NULL,
    ended_at          INTEGER,
    active_ms         INTEGER NOT NULL DEFAULT 0,
    page_loads        INTEGER NOT NULL DEFAULT 0,
    first_url         TEXT NOT NULL DEFAULT '',
    referrer          TEXT NOT NULL DEFAULT '',
    clicks            INTEGER NOT NULL DEFAULT 0,
    keypresses        INTEGER NOT NULL DEFAULT 0,
    console_errors    INTEGER NOT NULL DEFAULT 0,
    events            INTEGER NOT NULL DEFAULT 0,
    raw_bytes         INTEGER NOT NULL DEFAULT 0,
    stored_bytes      INTEGER NOT NULL DEFAULT 0,
    segments          INTEGER NOT NULL DEFAULT 0,
    user_agent        TEXT NOT NULL DEFAULT '',
    browser           TEXT NOT NULL DEFAULT '',
    os                TEXT NOT NULL DEFAULT '',
    device            TEXT NOT NULL DEFAULT '',
    screen_w          INTEGER NOT NULL DEFAULT 0,
    screen_h          INTEGER NOT NULL DEFAULT 0,
    lang              TEXT NOT NULL DEFAULT '',
    tz                TEXT NOT NULL DEFAULT ''
);
-- The session list: newest first per site, with the cursor (started_at, id).
CREATE INDEX sessions_site_started ON sessions(site_id, started_at DESC, id DESC);
CREATE INDEX sessions_site_user ON sessions(site_id, user_id);
-- The sweeper: open sessions by last activity.
CREATE INDEX sessions_open ON sessions(last_activity_at) WHERE ended_at IS NULL;

-- Every URL a session visited (page loads), for the list's URL filter.
CREATE TABLE session_pages (
    session_id     TEXT NOT NULL REFERENCES sessions(id),
    url            TEXT NOT NULL,
    first_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (session_id, url)
);

CREATE TABLE segments (
    session_id    TEXT NOT NULL REFERENCES sessions(id),
    tab_id        TEXT NOT NULL,
    first_seq     INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL,
    first_ts      INTEGER NOT NULL,
    last_ts       INTEGER NOT NULL,
    event_count   INTEGER NOT NULL,
    raw_bytes     INTEGER NOT NULL,
    stored_bytes  INTEGER NOT NULL,
    blob_key      TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    PRIMARY KEY (session_id, tab_id, first_seq)
);
