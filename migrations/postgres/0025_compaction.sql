-- Cold compaction (docs/storage.md, "Cold compaction"). Additive and
-- online (new, empty tables): a node
-- on the previous schema neither reads nor writes these tables (it probes
-- for them, and does not compact until they exist); compacted rows in
-- `segments` are ordinary rows to it.

-- The range index of compacted objects: one row per zstd frame.
CREATE TABLE IF NOT EXISTS segment_frames (
    session_id   TEXT NOT NULL,
    blob_key     TEXT NOT NULL,
    frame        BIGINT NOT NULL,
    first_seq    BIGINT NOT NULL,
    -- ms since the Unix epoch, of the frame's first event.
    first_ts     BIGINT NOT NULL,
    -- Where the frame is in the object (compressed bytes)...
    byte_offset  BIGINT NOT NULL,
    byte_length  BIGINT NOT NULL,
    -- ...and where it starts in the decompressed object.
    raw_offset   BIGINT NOT NULL,
    -- 1 when its first batch holds a full snapshot (a player can start there).
    snapshot     BIGINT NOT NULL,
    PRIMARY KEY (blob_key, frame)
);
CREATE INDEX IF NOT EXISTS segment_frames_session ON segment_frames(session_id);

-- Objects to delete once `delete_after` (ms) passed: written before an
-- object could become garbage (a compacted object before it is written,
-- replaced segments when the swap commits).
CREATE TABLE IF NOT EXISTS doomed_blobs (
    blob_key     TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL,
    delete_after BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS doomed_blobs_due ON doomed_blobs(delete_after);

-- Sessions the compactor is done with, at their `segments` count then
-- (a late segment changes the count: the session is compacted again).
CREATE TABLE IF NOT EXISTS compaction_done (
    session_id   TEXT PRIMARY KEY,
    segments     BIGINT NOT NULL,
    done_at      BIGINT NOT NULL
);
