-- Data lifecycle (PROTOCOL.md §6): tombstones of deleted sessions, pins,
-- erasure jobs and the leases that let one node do each piece of work.
-- Additive: a node on the previous schema keeps recording without them
-- (it probes for `session_tombstones` until the migration has run).

-- One row per deleted session, written before anything of it is removed
-- and never deleted: every write that could bring the session back (a
-- segment commit, the outbox, a spool drain, a tracker's hello, another
-- node's late commit) checks it first.
CREATE TABLE IF NOT EXISTS session_tombstones (
    session_id  TEXT PRIMARY KEY,
    site_id     BIGINT NOT NULL,
    -- ms since the Unix epoch.
    deleted_at  BIGINT NOT NULL,
    -- `deleted` (DELETE /api/v1/sessions/{id}), `retention` or `erasure`.
    reason      TEXT NOT NULL,
    -- The erasure job that deleted it, if one did: its receipt counts these.
    erasure_id  TEXT,
    -- Blob objects deleted for the session.
    objects     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS session_tombstones_erasure ON session_tombstones(erasure_id);

-- A pinned session is kept past its site's retention.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS pinned BIGINT NOT NULL DEFAULT 0;
-- (Erasure by visitor id: its index is built concurrently in 0011.)

-- Erasure jobs (POST /api/v1/sites/{id}/erase): durable, resumed after a
-- crash by whichever node takes the lease once it has expired.
CREATE TABLE IF NOT EXISTS erasures (
    id                TEXT PRIMARY KEY,
    org_id            BIGINT NOT NULL,
    site_id           BIGINT NOT NULL,
    user_id           TEXT,
    visitor_id        TEXT,
    -- `pending` or `done`.
    state             TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    finished_at       BIGINT,
    -- The node working on it, until `lease_expires_at` (ms).
    lease_holder      TEXT NOT NULL DEFAULT '',
    lease_expires_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS erasures_pending ON erasures(state, created_at);

-- Named leases of background work (the retention sweep): one holder at a
-- time, until the lease expires.
CREATE TABLE IF NOT EXISTS leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
