-- Notes on a session (PROTOCOL.md §7): what a member writes at a moment of
-- a replay or a live session. Additive: a node on the previous schema
-- keeps recording and deleting sessions without it (it probes for
-- `session_notes` until the migration has run); only the notes routes
-- need it.
CREATE TABLE session_notes (
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    -- 1, 2, 3, ... within the session: the next is the largest plus one,
    -- and the primary key makes two notes added at once take turns.
    id          INTEGER NOT NULL,
    -- ms from the session's started_at.
    t           INTEGER NOT NULL,
    text        TEXT NOT NULL,
    -- A person's email, or `token:NAME`.
    author      TEXT NOT NULL,
    -- ms since the Unix epoch.
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (session_id, id)
);
