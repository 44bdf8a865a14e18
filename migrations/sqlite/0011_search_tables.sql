-- Search that finds the customer (PROTOCOL.md §7, docs/search.md): the
-- two filters that 0009 left without an index on SQLite, `trait` and
-- `error_contains`, get one each, so that a rare or absent value answers
-- from an index instead of reading every session (docs/PERFORMANCE.md,
-- "Search"). Both are kept in step by triggers, so that a node on the
-- previous code keeps them right too, and a session's rows go with it
-- (purge_session deletes the session and its error texts). The list
-- reads them only to find candidates: each row is checked again against
-- `user_traits` and `session_error_texts`, the truth.

-- trait=KEY:VALUE: the string values of `sessions.user_traits`, a row per key.
CREATE TABLE IF NOT EXISTS session_traits (
    session_id  TEXT NOT NULL,
    site_id     INTEGER NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (session_id, key)
);
CREATE INDEX IF NOT EXISTS session_traits_site_key_value ON session_traits(site_id, key, value, session_id);

INSERT OR REPLACE INTO session_traits (session_id, site_id, key, value)
SELECT s.id, s.site_id, j.key, j.value
FROM sessions s, json_each(s.user_traits) j
WHERE s.user_traits <> '{}' AND json_valid(s.user_traits) AND j.type = 'text';

CREATE TRIGGER IF NOT EXISTS session_traits_insert AFTER INSERT ON sessions
WHEN NEW.user_traits <> '{}' AND json_valid(NEW.user_traits) BEGIN
    INSERT OR REPLACE INTO session_traits (session_id, site_id, key, value)
    SELECT NEW.id, NEW.site_id, j.key, j.value FROM json_each(NEW.user_traits) j WHERE j.type = 'text';
END;

-- identify: the traits replace the previous ones (an old value no longer matches).
CREATE TRIGGER IF NOT EXISTS session_traits_update AFTER UPDATE OF user_traits ON sessions BEGIN
    DELETE FROM session_traits WHERE session_id = NEW.id;
    INSERT OR REPLACE INTO session_traits (session_id, site_id, key, value)
    SELECT NEW.id, NEW.site_id, j.key, j.value
    FROM json_each(CASE WHEN json_valid(NEW.user_traits) THEN NEW.user_traits ELSE '{}' END) j
    WHERE j.type = 'text';
END;

CREATE TRIGGER IF NOT EXISTS session_traits_delete AFTER DELETE ON sessions BEGIN
    DELETE FROM session_traits WHERE session_id = OLD.id;
END;

-- error_contains=S: a trigram full-text index of `session_error_texts`
-- (FTS5, built into the bundled SQLite; its content is that table's, by
-- rowid). A substring of 3 or more characters is a MATCH of a phrase.
CREATE VIRTUAL TABLE IF NOT EXISTS session_error_fts USING fts5(
    text, content = 'session_error_texts', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO session_error_fts(session_error_fts) VALUES ('rebuild');

CREATE TRIGGER IF NOT EXISTS session_error_fts_insert AFTER INSERT ON session_error_texts BEGIN
    INSERT INTO session_error_fts(rowid, text) VALUES (NEW.rowid, NEW.text);
END;

CREATE TRIGGER IF NOT EXISTS session_error_fts_delete AFTER DELETE ON session_error_texts BEGIN
    INSERT INTO session_error_fts(session_error_fts, rowid, text) VALUES ('delete', OLD.rowid, OLD.text);
END;
