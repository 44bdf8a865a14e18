-- Accounts and access (PROTOCOL.md §5). Additive and online: new tables,
-- new nullable or defaulted columns, new indexes; older nodes neither read
-- nor write any of them.

-- People. `users.org_id` and `users.role` (from the first schema) are the
-- organisation and role the person was first given; `memberships` is what
-- authorisation reads. An empty `password_hash` cannot sign in.
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
-- Emails are stored lowercased and are unique whatever their case.
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));

-- A person's role in an organisation: owner, admin, member or viewer;
-- `sites` a JSON array of site ids the membership is limited to, NULL for
-- every site.
CREATE TABLE memberships (
    user_id     INTEGER NOT NULL REFERENCES users(id),
    org_id      INTEGER NOT NULL REFERENCES organizations(id),
    role        TEXT NOT NULL,
    sites       TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX memberships_org ON memberships(org_id);

-- Invitations: single use, `code_hash` the SHA-256 (hex) of the code in
-- the link (the code itself is never stored).
CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES organizations(id),
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    sites       TEXT,
    code_hash   TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX invitations_org ON invitations(org_id);

-- Sign-ins of the dashboard: `id_hash` the SHA-256 (hex) of the opaque id
-- in the `reel_session` cookie. Valid while not revoked, before
-- `expires_at` (absolute) and within the idle timeout of `last_seen_at`.
CREATE TABLE login_sessions (
    id            INTEGER PRIMARY KEY,
    id_hash       TEXT NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    org_id        INTEGER NOT NULL REFERENCES organizations(id),
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX login_sessions_user ON login_sessions(user_id);

-- API tokens: `role` (first schema) is owner, admin, member or viewer; an
-- optional expiry.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;

-- Who did what: `actor` an email or `token:NAME`, `ip` the peer address,
-- `action` a reel_protocol::accounts::AuditAction, `target` what it was
-- done to (`session:ID`, `user:ID`, ...). `org_id` NULL for a failed
-- sign-in of an unknown email.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    org_id  INTEGER REFERENCES organizations(id),
    actor   TEXT NOT NULL,
    ip      TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log(org_id, id);
CREATE INDEX audit_log_target ON audit_log(target, action, at);
