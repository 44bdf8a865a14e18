//! Accounts and access (PROTOCOL.md §5): roles, the JSON shapes of sign-in,
//! members, invitations, API tokens and the audit log, and their limits.
//! Shared with the dashboard through the generated bindings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use ts_rs::TS;

/// The dashboard's sign-in cookie: an opaque random id of a server-side
/// session (never a token, never a password hash).
pub const SESSION_COOKIE: &str = "reel_session";
/// A password is at least this many characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// ... and at most this many bytes (argon2 hashes whatever it is given:
/// the bound keeps a sign-in's cost bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Emails, names of people and of tokens: at most this many bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// An invitation can be accepted for this long.
pub const INVITATION_TTL_DAYS: u32 = 7;
/// A sign-in ends after this long without a request ...
pub const SESSION_IDLE_DAYS: u32 = 7;
/// ... and this long after it began, whatever its use.
pub const SESSION_ABSOLUTE_DAYS: u32 = 30;
/// More failed sign-ins than this for one email or from one address within
/// [`LOGIN_WINDOW_MINUTES`] are refused (429 `rate_limited`).
pub const LOGIN_MAX_FAILURES: u32 = 10;
pub const LOGIN_WINDOW_MINUTES: u32 = 15;
/// An API token's `expires_in_days` is at most this (ten years).
pub const MAX_TOKEN_DAYS: u32 = 3650;
/// Entries per page of `GET /api/v1/audit`.
pub const AUDIT_PAGE_SIZE: u32 = 100;

/// A role in an organisation. Each includes the rights of those after it:
/// `owner` > `admin` > `member` > `viewer` (the derived order is that one,
/// lowest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Find, replay and watch sessions.
    Viewer,
    /// A viewer's rights; notes and share links.
    Member,
    /// A member's rights; sites, members, invitations, API tokens, session
    /// deletion, erasure, the audit log.
    Admin,
    /// An admin's rights; makes and removes admins and owners.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    /// The wire and storage name, e.g. `"admin"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// Reads a stored or typed name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A password as a client sends it. Never printed: its `Debug` and
/// `Display` say `[redacted]`, and it is not `Serialize`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }

    /// The password itself, to hash or verify; nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it may be set as a password: at least
    /// [`MIN_PASSWORD_CHARS`] characters, at most [`MAX_PASSWORD_BYTES`].
    pub fn check_strength(&self) -> Result<(), String> {
        if self.0.chars().count() < MIN_PASSWORD_CHARS {
            return Err(format!(
                "a password has at least {MIN_PASSWORD_CHARS} characters"
            ));
        }
        if self.0.len() > MAX_PASSWORD_BYTES {
            return Err(format!("a password has at most {MAX_PASSWORD_BYTES} bytes"));
        }
        Ok(())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `POST /api/v1/login`.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct LoginRequest {
    pub email: String,
    #[ts(type = "string")]
    pub password: Password,
}

/// The signed-in person of `GET /api/v1/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct MeUser {
    pub id: i64,
    pub email: String,
    pub name: String,
}

/// An organisation, as `GET /api/v1/me` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct OrgInfo {
    pub id: i64,
    pub name: String,
}

/// `GET /api/v1/me` (and the answer of a sign-in). For an API token,
/// `user` is `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Me {
    pub user: Option<MeUser>,
    pub org: OrgInfo,
    pub role: Role,
    /// The sites the caller is limited to; `null`: all of the organisation's.
    pub sites: Option<Vec<i64>>,
    /// Feature flags evaluated for the caller (docs/operations.md,
    /// "Feature flags"): its organisation's rules and the global ones, a
    /// percentage rollout keyed by the user's id (a token's: `token:ID`).
    /// By flag name; a name the dashboard does not know is ignored, a
    /// missing flag takes its default.
    #[serde(default)]
    #[ts(as = "Option<crate::flags::FlagSet>", optional)]
    pub flags: crate::flags::FlagSet,
}

/// One member of `GET /api/v1/members`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `null`: all sites.
    pub sites: Option<Vec<i64>>,
    /// When the membership began (ms).
    pub created_at: i64,
}

/// `GET /api/v1/members`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// Reads a field that may be absent (unchanged) or `null` (a value).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/members/{user_id}`: what is absent stays.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, TS)]
pub struct MemberPatch {
    #[serde(default)]
    #[ts(optional)]
    pub role: Option<Role>,
    /// Absent: unchanged; `null`: all sites; a list: only those.
    #[serde(default, deserialize_with = "present")]
    #[ts(optional, type = "number[] | null")]
    pub sites: Option<Option<Vec<i64>>>,
}

/// `POST /api/v1/invitations`.
#[derive(Debug, Clone, PartialEq, Deserialize, TS)]
pub struct InvitationRequest {
    pub email: String,
    pub role: Role,
    /// `null` or absent: all sites.
    #[serde(default)]
    pub sites: Option<Vec<i64>>,
}

/// The answer of `POST /api/v1/invitations`: the link to send, holding the
/// single-use code (shown once; stored hashed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct InvitationCreated {
    pub id: i64,
    pub url: String,
}

/// One invitation of `GET /api/v1/invitations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Invitation {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub sites: Option<Vec<i64>>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// `GET /api/v1/invitations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct InvitationList {
    pub invitations: Vec<Invitation>,
}

/// `POST /api/v1/invitations/{code}/accept`.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct AcceptInvitation {
    pub name: String,
    #[ts(type = "string")]
    pub password: Password,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Deserialize, TS)]
pub struct TokenRequest {
    pub name: String,
    pub role: Role,
    /// 1 to [`MAX_TOKEN_DAYS`]; `null` or absent: never expires.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The answer of `POST /api/v1/tokens`: the token, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TokenCreated {
    pub id: i64,
    pub token: String,
}

/// One API token of `GET /api/v1/tokens` (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// `GET /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// What the audit log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Login,
    LoginFailed,
    /// A recorded session's events or segments were read for a replay.
    ReplayViewed,
    /// A live session was watched.
    LiveWatched,
    /// A membership was changed (role, sites), removed or created (an
    /// invitation accepted).
    MemberChanged,
    TokenCreated,
    TokenRevoked,
    InvitationCreated,
    InvitationRevoked,
    SiteChanged,
    SessionDeleted,
    Erased,
    /// A note was added to a session (PROTOCOL.md §7).
    NoteAdded,
}

impl AuditAction {
    pub const ALL: [AuditAction; 13] = [
        AuditAction::Login,
        AuditAction::LoginFailed,
        AuditAction::ReplayViewed,
        AuditAction::LiveWatched,
        AuditAction::MemberChanged,
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::InvitationCreated,
        AuditAction::InvitationRevoked,
        AuditAction::SiteChanged,
        AuditAction::SessionDeleted,
        AuditAction::Erased,
        AuditAction::NoteAdded,
    ];

    /// The wire and storage name, e.g. `"replay_viewed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::ReplayViewed => "replay_viewed",
            AuditAction::LiveWatched => "live_watched",
            AuditAction::MemberChanged => "member_changed",
            AuditAction::TokenCreated => "token_created",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::InvitationCreated => "invitation_created",
            AuditAction::InvitationRevoked => "invitation_revoked",
            AuditAction::SiteChanged => "site_changed",
            AuditAction::SessionDeleted => "session_deleted",
            AuditAction::Erased => "erased",
            AuditAction::NoteAdded => "note_added",
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct AuditEntry {
    /// When (ms since the Unix epoch).
    pub at: i64,
    /// Who: a person's email, or `token:NAME`.
    pub actor: String,
    /// The client address of the request (behind a trusted proxy, the
    /// address it forwarded; see `docs/operations.md`).
    pub ip: String,
    /// An [`AuditAction`]'s name.
    pub action: String,
    /// What it was done to: `session:ID`, `user:ID`, `token:ID`, ...
    pub target: String,
}

/// `GET /api/v1/audit?cursor=`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for older entries; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_owner_over_admin_over_member_over_viewer() {
        assert!(Role::Owner > Role::Admin);
        assert!(Role::Admin > Role::Member);
        assert!(Role::Member > Role::Viewer);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        for a in AuditAction::ALL {
            assert_eq!(
                serde_json::to_string(&a).unwrap(),
                format!("\"{}\"", a.as_str())
            );
        }
    }

    #[test]
    fn a_password_never_prints() {
        let req: LoginRequest =
            serde_json::from_str(r#"{"email":"a@b.c","password":"hunter2hunter2"}"#).unwrap();
        let shown = format!("{req:?} {}", req.password);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert!(Password::new("short").check_strength().is_err());
        assert!(Password::new("0123456789").check_strength().is_ok());
        assert!(Password::new("x".repeat(MAX_PASSWORD_BYTES + 1))
            .check_strength()
            .is_err());
    }

    #[test]
    fn a_patch_tells_absent_sites_from_null() {
        let p: MemberPatch = serde_json::from_str(r#"{"role":"viewer"}"#).unwrap();
        assert_eq!(p.sites, None);
        let p: MemberPatch = serde_json::from_str(r#"{"sites":null}"#).unwrap();
        assert_eq!(p.sites, Some(None));
        let p: MemberPatch = serde_json::from_str(r#"{"sites":[3]}"#).unwrap();
        assert_eq!(p.sites, Some(Some(vec![3])));
    }
}
