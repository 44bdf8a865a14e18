-- Feature flags (docs/operations.md, "Feature flags"): the operator's
-- rules, written by `reel flag set|clear`, polled by every node. Additive
-- and online (a new, empty table): a node on the previous schema does not
-- read it (it probes for it) and serves every flag at its default.
CREATE TABLE IF NOT EXISTS flag_rules (
    -- The flag's wire name. A name this version does not know (written by
    -- a newer one) is ignored when read, never an error.
    flag        TEXT NOT NULL,
    -- `global`, `org` or `site`.
    scope       TEXT NOT NULL,
    -- The organisation's or site's id; 0 for `global`.
    scope_id    BIGINT NOT NULL,
    -- `on`, `off` or `N%` (N in 0..=100).
    rule        TEXT NOT NULL,
    -- When it was set (ms since the Unix epoch).
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (flag, scope, scope_id)
);
