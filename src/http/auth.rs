//! Authorisation in one place (PROTOCOL.md §5). [`authorize`] finds the
//! caller of a request (a person signed in with the `reel_session` cookie,
//! or an API token in `Authorization: Bearer`), its organisation, role and
//! site scope, and checks the [`Right`] the route needs: 401
//! `unauthenticated` without a valid credential, 403 `forbidden` when the
//! role lacks the right. What a caller may read is also enforced in SQL:
//! every index read takes the caller's [`Scope`].

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use reel_actors::traits::Scope;
use reel_protocol::accounts::{AuditAction, Me, MeUser, Role, SESSION_COOKIE};
use reel_protocol::ErrorCode;

use super::{ApiError, AppState};
use crate::accounts::store::{Access, NewAudit, TokenLookup};
use crate::index::token_hash;

/// A sign-in's `last_seen_at` is written at most this often (ms): the idle
/// timeout is days, a write per request is not needed.
pub const TOUCH_INTERVAL_MS: i64 = 60_000;

/// What a route needs. Each role has the rights of the roles below it:
/// owner > admin > member > viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    /// Find, replay and watch sessions; read one's own account (viewer).
    Read,
    /// Notes and share links (member).
    Annotate,
    /// Sites, members, invitations, API tokens, deleting sessions,
    /// erasure, the audit log (admin).
    Administer,
    /// Make or remove admins and owners (owner).
    ManageAdmins,
}

impl Right {
    /// The least role that has the right.
    pub fn min_role(self) -> Role {
        match self {
            Right::Read => Role::Viewer,
            Right::Annotate => Role::Member,
            Right::Administer => Role::Admin,
            Right::ManageAdmins => Role::Owner,
        }
    }
}

/// How a caller authenticated: what the live socket checks again.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// The `reel_session` cookie: its id's hash.
    Session { id_hash: String },
    /// A bearer token: its hash.
    Token { hash: String },
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    User {
        id: i64,
        email: String,
        name: String,
    },
    Token {
        id: i64,
        name: String,
    },
}

/// An authenticated caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub actor: Actor,
    pub access: Access,
    pub credential: Credential,
    /// The client address ([`super::client_addr::client_addr`]).
    pub ip: String,
}

impl Caller {
    pub fn role(&self) -> Role {
        self.access.role
    }

    pub fn org_id(&self) -> i64 {
        self.access.org.id
    }

    /// What the caller may read, for the index.
    pub fn scope(&self) -> Scope {
        Scope {
            org_id: self.access.org.id,
            sites: self.access.sites.clone(),
        }
    }

    /// The audit log's name of the caller: an email, or `token:NAME`.
    pub fn actor_name(&self) -> String {
        match &self.actor {
            Actor::User { email, .. } => email.clone(),
            Actor::Token { name, .. } => format!("token:{name}"),
        }
    }

    /// 403 `forbidden` unless the caller's role has `right`.
    pub fn require(&self, right: Right) -> Result<(), ApiError> {
        if self.role() >= right.min_role() {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "this needs the {} role or above; you are {}",
                    right.min_role(),
                    self.role()
                ),
            ))
        }
    }

    /// What a percentage rollout of a feature flag is stable for: the
    /// user's id, or `token:ID`.
    pub fn flag_key(&self) -> String {
        match &self.actor {
            Actor::User { id, .. } => id.to_string(),
            Actor::Token { id, .. } => format!("token:{id}"),
        }
    }

    /// `GET /api/v1/me`, with the feature flags `rules` give the caller
    /// (its organisation's and the global rules; no site's).
    pub fn me(&self, rules: &reel_actors::flags::FlagRules) -> Me {
        let key = self.flag_key();
        Me {
            flags: rules.evaluate(&reel_actors::flags::Subject {
                org_id: Some(self.org_id()),
                site_id: None,
                key: &key,
            }),
            user: match &self.actor {
                Actor::User { id, email, name } => Some(MeUser {
                    id: *id,
                    email: email.clone(),
                    name: name.clone(),
                }),
                Actor::Token { .. } => None,
            },
            org: self.access.org.clone(),
            role: self.access.role,
            sites: self.access.sites.clone(),
        }
    }
}

/// The client address of a request as the audit log shows it
/// ([`super::client_addr::client_addr`]: behind a trusted proxy, the
/// address it forwarded); empty when there is none.
pub fn peer_ip(req: &HttpRequest) -> String {
    super::client_addr::client_addr(req)
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// The credential a request carries: its bearer token, else its sign-in
/// cookie.
pub fn credential(req: &HttpRequest) -> Option<Credential> {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(token) = bearer {
        return Some(Credential::Token {
            hash: token_hash(token),
        });
    }
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
        .map(|id| Credential::Session {
            id_hash: token_hash(&id),
        })
}

/// Who holds `credential` now, and with which access; `Err` with 401
/// `unauthenticated` when nobody (unknown, expired or revoked; a removed
/// member's sign-in).
pub async fn resolve(
    state: &AppState,
    credential: &Credential,
) -> Result<(Actor, Access), ApiError> {
    let now = reel_actors::now_ms();
    match credential {
        Credential::Token { hash } => match state
            .accounts
            .token_by_hash(hash, now)
            .await
            .map_err(ApiError::internal)?
        {
            TokenLookup::Valid(t) => Ok((
                Actor::Token {
                    id: t.id,
                    name: t.name,
                },
                t.access,
            )),
            TokenLookup::Expired => Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "this API token expired: ask an admin for a new one",
            )),
            TokenLookup::Unknown => Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "unknown or revoked API token",
            )),
        },
        Credential::Session { id_hash } => {
            let idle = state.config.accounts.session_idle_ms as i64;
            let login = state
                .accounts
                .login(id_hash, now, idle, TOUCH_INTERVAL_MS)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Unauthenticated,
                        "your sign-in ended (expired, signed out or removed): sign in again",
                    )
                })?;
            Ok((
                Actor::User {
                    id: login.user_id,
                    email: login.email,
                    name: login.name,
                },
                login.access,
            ))
        }
    }
}

/// The caller of `req`, with `right` checked: 401 `unauthenticated`
/// without a valid credential, 403 `forbidden` without the right.
pub async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    right: Right,
) -> Result<Caller, ApiError> {
    let Some(credential) = credential(req) else {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "sign in (POST /api/v1/login), or send Authorization: Bearer <API token>",
        ));
    };
    let (actor, access) = resolve(state, &credential).await?;
    if let Actor::User { id, .. } = &actor {
        super::failures::tag_user(state, *id);
    }
    let caller = Caller {
        actor,
        access,
        credential,
        ip: peer_ip(req),
    };
    caller.require(right)?;
    Ok(caller)
}

/// The `reel_session` cookie: HttpOnly, SameSite=Lax, Secure on https,
/// lasting as long as the sign-in's absolute expiry. An empty value with
/// no lifetime removes it.
pub fn session_cookie(req: &HttpRequest, value: &str, max_age_ms: Option<i64>) -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, value.to_owned())
        .path("/")
        .http_only(true)
        .secure(req.connection_info().scheme() == "https")
        .same_site(SameSite::Lax)
        .finish();
    match max_age_ms {
        Some(ms) => cookie.set_max_age(actix_web::cookie::time::Duration::milliseconds(ms)),
        None => cookie.make_removal(),
    }
    cookie
}

/// Records an audit log entry of `caller`'s organisation. Used by every
/// audited route (and for other code: `site_changed`, `session_deleted`,
/// `erased`). An entry that cannot be written fails the request (500):
/// what is audited does not happen unaudited.
pub async fn audit(
    state: &AppState,
    caller: &Caller,
    action: AuditAction,
    target: impl Into<String>,
) -> Result<(), ApiError> {
    let entry = NewAudit {
        org_id: Some(caller.org_id()),
        actor: caller.actor_name(),
        ip: caller.ip.clone(),
        action: action.as_str(),
        target: target.into(),
    };
    state
        .accounts
        .audit(&entry, reel_actors::now_ms())
        .await
        .map_err(ApiError::internal)
}

/// Records `action` on `target` by `caller` unless the same caller did so
/// within `window`: what `replay_viewed` and `live_watched` use, so that
/// one replay (a session row, its segments, each tab's events) or one
/// dashboard reconnecting makes one entry.
pub async fn audit_once(
    state: &AppState,
    caller: &Caller,
    action: AuditAction,
    target: impl Into<String>,
    window: std::time::Duration,
) -> Result<(), ApiError> {
    let now = reel_actors::now_ms();
    let entry = NewAudit {
        org_id: Some(caller.org_id()),
        actor: caller.actor_name(),
        ip: caller.ip.clone(),
        action: action.as_str(),
        target: target.into(),
    };
    state
        .accounts
        .audit_once(&entry, now, now - window.as_millis() as i64)
        .await
        .map_err(ApiError::internal)
}

/// May `caller` hand out `role` (to a member, an invitation or a token)?
/// Admins and owners are made by owners only; nobody grants above their
/// own role.
pub fn may_grant(caller: &Caller, role: Role) -> Result<(), ApiError> {
    if role >= Role::Admin {
        caller.require(Right::ManageAdmins)
    } else {
        caller.require(Right::Administer)
    }
}
