//! What accounts need of the index (PROTOCOL.md §5): people and their
//! memberships, sign-ins, API tokens, invitations and the audit log. The
//! SQLite and Postgres indexes implement it (`src/index/accounts.rs`).

use async_trait::async_trait;
use reel_actors::traits::StoreResult;
use reel_protocol::accounts::{AuditEntry, Invitation, Member, OrgInfo, Role, TokenInfo};

/// A person, as signing in needs it.
#[derive(Clone)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// The argon2id PHC string; empty: cannot sign in.
    pub password_hash: String,
    /// The organisation the person signs in to (the oldest membership),
    /// `None` when the person is no member of any.
    pub org_id: Option<i64>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// A membership, as authorisation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub org: OrgInfo,
    pub role: Role,
    /// `None`: every site of the organisation.
    pub sites: Option<Vec<i64>>,
}

/// A valid sign-in (server-side session) and who it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRecord {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub access: Access,
}

/// A valid API token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub access: Access,
}

/// A token found by its hash, valid or not: authentication tells an
/// expired one from an unknown one in its message.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenLookup {
    Valid(TokenRecord),
    Expired,
    /// Unknown or revoked.
    Unknown,
}

/// Why an invitation cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationRefusal {
    Unknown,
    Expired,
    Used,
    Revoked,
    /// The email has an account that is a member somewhere already.
    AccountExists,
}

/// An invitation's single-use code, found by its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationRecord {
    pub id: i64,
    pub org_id: i64,
    pub email: String,
    pub role: Role,
    pub sites: Option<Vec<i64>>,
}

/// A new audit log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub org_id: Option<i64>,
    pub actor: String,
    pub ip: String,
    pub action: &'static str,
    pub target: String,
}

/// Accounts in the index. Timestamps are ms since the Unix epoch; `now`
/// is passed in so that callers (and tests) agree on it.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The organisation named `name`, created on first use.
    async fn org_by_name(&self, name: &str) -> StoreResult<i64>;

    // People and memberships.
    /// The person with this email (any case).
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Creates a person (email lowercased) with a membership of `org_id`;
    /// `Ok(None)` when the email has an account already.
    async fn create_user(
        &self,
        org_id: i64,
        email: &str,
        name: &str,
        password_hash: &str,
        role: Role,
        sites: Option<&[i64]>,
    ) -> StoreResult<Option<i64>>;
    /// Sets the password hash of the person with this email; false when
    /// there is none.
    async fn set_password(&self, email: &str, password_hash: &str) -> StoreResult<bool>;
    /// The person's membership of `org_id`.
    async fn access(&self, user_id: i64, org_id: i64) -> StoreResult<Option<Access>>;
    async fn members(&self, org_id: i64) -> StoreResult<Vec<Member>>;
    /// Changes a membership; false when there is none.
    async fn update_member(
        &self,
        org_id: i64,
        user_id: i64,
        role: Role,
        sites: Option<&[i64]>,
    ) -> StoreResult<bool>;
    /// Ends a membership and revokes the person's sign-ins to `org_id`, in
    /// one transaction; false when there was none.
    async fn remove_member(&self, org_id: i64, user_id: i64, now: i64) -> StoreResult<bool>;

    // Sign-ins (server-side sessions).
    async fn create_login(
        &self,
        id_hash: &str,
        user_id: i64,
        org_id: i64,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// The sign-in with this id hash, if it is not revoked, before its
    /// absolute expiry and seen since `now - idle_ms`, and its person still
    /// a member; marks it seen (at most once per `touch_ms`).
    async fn login(
        &self,
        id_hash: &str,
        now: i64,
        idle_ms: i64,
        touch_ms: i64,
    ) -> StoreResult<Option<LoginRecord>>;
    /// Revokes one sign-in.
    async fn revoke_login(&self, id_hash: &str, now: i64) -> StoreResult<()>;

    // API tokens.
    /// Creates a token (given already hashed); returns its id.
    async fn create_token(
        &self,
        org_id: i64,
        name: &str,
        role: Role,
        token_hash: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64>;
    async fn token_by_hash(&self, hash: &str, now: i64) -> StoreResult<TokenLookup>;
    /// The organisation's tokens (`None`: every organisation's), newest first.
    async fn tokens(&self, org_id: Option<i64>) -> StoreResult<Vec<TokenInfo>>;
    /// Revokes a token of `org_id` (`None`: of any); false when there is
    /// no such token not yet revoked.
    async fn revoke_token(&self, org_id: Option<i64>, id: i64, now: i64) -> StoreResult<bool>;

    // Invitations.
    #[allow(clippy::too_many_arguments)]
    async fn create_invitation(
        &self,
        org_id: i64,
        email: &str,
        role: Role,
        sites: Option<&[i64]>,
        code_hash: &str,
        created_by: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<i64>;
    async fn invitations(&self, org_id: i64) -> StoreResult<Vec<Invitation>>;
    /// Revokes an unused invitation; false when there is none.
    async fn revoke_invitation(&self, org_id: i64, id: i64, now: i64) -> StoreResult<bool>;
    /// Uses the invitation with this code hash, in one transaction: marks
    /// it used and creates the person (or, for an email whose account has
    /// no membership left, gives it back one, with this name and
    /// password). Returns the invitation and the person's id.
    async fn accept_invitation(
        &self,
        code_hash: &str,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<Result<(InvitationRecord, i64), InvitationRefusal>>;

    // The audit log.
    async fn audit(&self, entry: &NewAudit, now: i64) -> StoreResult<()>;
    /// Records `entry` unless the same actor did the same to the same
    /// target in this organisation since `since`.
    async fn audit_once(&self, entry: &NewAudit, now: i64, since: i64) -> StoreResult<()>;
    /// The organisation's entries older than entry `before` (id), newest
    /// first, at most `limit`, each with its id.
    async fn audit_page(
        &self,
        org_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, AuditEntry)>>;
}
