-- Maintenance: a node-wide switch of the operator (`reel maintenance
-- on|off`), not of any organisation. One row; every node polls it.
CREATE TABLE IF NOT EXISTS maintenance (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    -- 1: maintenance on (refuse and close ingest); 0: off.
    enabled     BIGINT NOT NULL DEFAULT 0,
    -- Shown to trackers in the 503 and the 4503 `error`; may be empty.
    message     TEXT NOT NULL DEFAULT '',
    -- When it was last switched (ms since the Unix epoch; 0: never).
    updated_at  BIGINT NOT NULL DEFAULT 0
);
INSERT INTO maintenance (id, enabled, message, updated_at) VALUES (1, 0, '', 0)
ON CONFLICT (id) DO NOTHING;
