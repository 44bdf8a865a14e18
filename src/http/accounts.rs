//! The routes of accounts and access (PROTOCOL.md §5): sign-in and
//! sign-out, `me`, members, invitations, API tokens and the audit log.
//! Who may call what is declared at the top of each handler with
//! [`authorize`] and a [`Right`].

use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use reel_actors::traits::Scope;
use reel_protocol::accounts::{
    AcceptInvitation, AuditAction, AuditPage, InvitationCreated, InvitationList, InvitationRequest,
    LoginRequest, Member, MemberList, MemberPatch, Role, TokenCreated, TokenList, TokenRequest,
    AUDIT_PAGE_SIZE, MAX_NAME_BYTES, MAX_PASSWORD_BYTES, MAX_TOKEN_DAYS, SESSION_COOKIE,
};
use reel_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::auth::{
    audit, authorize, may_grant, peer_ip, session_cookie, Caller, Credential, Right,
};
use super::{ApiError, AppState};
use crate::accounts::limiter::LoginLimiter;
use crate::accounts::store::{InvitationRefusal, NewAudit};
use crate::accounts::{new_secret_id, normalize_email, password, valid_email, DAY_MS};
use crate::index::{new_token, token_hash};

/// Reads a JSON body; the message says what was wrong with it, unless the
/// body holds a password (then it only names the shape expected).
fn json_body<T: DeserializeOwned>(body: &[u8], secret: Option<&str>) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            match secret {
                Some(shape) => format!("the body must be JSON {shape}"),
                None => format!("unreadable body: {e}"),
            },
        )
    })
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no such {what}"))
}

/// Records an entry for someone not (yet) a caller: a sign-in, a failed
/// one, an accepted invitation.
async fn audit_as(
    state: &AppState,
    org_id: Option<i64>,
    actor: &str,
    ip: &str,
    action: AuditAction,
    target: String,
) -> Result<(), ApiError> {
    let entry = NewAudit {
        org_id,
        actor: actor.to_owned(),
        ip: ip.to_owned(),
        action: action.as_str(),
        target,
    };
    state
        .accounts
        .audit(&entry, reel_actors::now_ms())
        .await
        .map_err(ApiError::internal)
}

/// Starts a sign-in for a person of `org_id`: the server-side session,
/// the cookie, and `me` as the body.
async fn sign_in(
    req: &HttpRequest,
    state: &AppState,
    user_id: i64,
    org_id: i64,
) -> Result<HttpResponse, ApiError> {
    let id = new_secret_id();
    let id_hash = token_hash(&id);
    let now = reel_actors::now_ms();
    let absolute = state.config.accounts.session_absolute_ms as i64;
    state
        .accounts
        .create_login(&id_hash, user_id, org_id, now, now + absolute)
        .await
        .map_err(ApiError::internal)?;
    let credential = Credential::Session { id_hash };
    let (actor, access) = super::auth::resolve(state, &credential).await?;
    let caller = Caller {
        actor,
        access,
        credential,
        ip: peer_ip(req),
    };
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(req, &id, Some(absolute)))
        .json(caller.me(&state.flags.borrow())))
}

/// `POST /api/v1/login` `{"email","password"}`: 200, `me` and the
/// `reel_session` cookie; 401 `bad_credentials` for a wrong email or
/// password alike (an unknown email is checked against a dummy hash, so
/// it takes as long); 429 `rate_limited` past the sign-in rate limit.
pub async fn login(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: LoginRequest = json_body(&body, Some(r#"{"email":S,"password":S}"#))?;
    let email = normalize_email(&body.email);
    let ip = peer_ip(&req);
    // The limit counts IPv6 clients by their /64; the audit log shows the
    // address.
    let limit_key = super::client_addr::client_addr(&req)
        .map(|a| super::client_addr::limit_key(a).to_string())
        .unwrap_or_default();
    let keys = LoginLimiter::keys(&email, &limit_key);
    if let Some(wait) = state.login_limiter.check(&keys, Instant::now()) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut e = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many failed sign-ins: try again in {secs} s"),
        );
        e.retry_after = Some(secs.max(1));
        return Err(e);
    }
    let user = if email.len() <= MAX_NAME_BYTES {
        state
            .accounts
            .user_by_email(&email)
            .await
            .map_err(ApiError::internal)?
    } else {
        None
    };
    let ok = body.password.expose().len() <= MAX_PASSWORD_BYTES
        && password::verify(
            &body.password,
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await;
    // A person who is no member of any organisation cannot sign in.
    let signed_in = match &user {
        Some(u) if ok => u.org_id.map(|org| (u.id, u.email.clone(), org)),
        _ => None,
    };
    match signed_in {
        Some((user_id, user_email, org_id)) => {
            state.login_limiter.succeeded(&keys[0]);
            audit_as(
                &state,
                Some(org_id),
                &user_email,
                &ip,
                AuditAction::Login,
                format!("user:{user_id}"),
            )
            .await?;
            sign_in(&req, &state, user_id, org_id).await
        }
        None => {
            state.login_limiter.failed(&keys, Instant::now());
            let shown: String = email.chars().take(MAX_NAME_BYTES / 4).collect();
            let (org, target) = match &user {
                Some(u) => (u.org_id, format!("user:{}", u.id)),
                None => (None, String::new()),
            };
            if let Err(e) =
                audit_as(&state, org, &shown, &ip, AuditAction::LoginFailed, target).await
            {
                tracing::warn!(error = %e, "failed sign-in not audited");
            }
            Err(ApiError::new(
                ErrorCode::BadCredentials,
                "wrong email or password",
            ))
        }
    }
}

/// `POST /api/v1/logout`: revokes the sign-in of the cookie (if any) and
/// removes the cookie. 204 either way.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        state
            .accounts
            .revoke_login(&token_hash(c.value()), reel_actors::now_ms())
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(HttpResponse::NoContent()
        .cookie(session_cookie(&req, "", None))
        .finish())
}

/// `GET /api/v1/me` (viewer).
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Read).await?;
    Ok(HttpResponse::Ok().json(caller.me(&state.flags.borrow())))
}

/// Refuses site ids that are not the caller's organisation's.
async fn check_sites(
    state: &AppState,
    caller: &Caller,
    sites: Option<&[i64]>,
) -> Result<(), ApiError> {
    let Some(sites) = sites else { return Ok(()) };
    let known = state
        .index
        .sites(&Scope::org(caller.org_id()))
        .await
        .map_err(ApiError::internal)?;
    match sites.iter().find(|id| !known.iter().any(|s| s.id == **id)) {
        Some(id) => Err(bad_request(format!("no site {id} in this organisation"))),
        None => Ok(()),
    }
}

/// `GET /api/v1/members` (admin).
pub async fn members(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let members = state
        .accounts
        .members(caller.org_id())
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(MemberList { members }))
}

/// The member `user_id` of the caller's organisation, with the rights to
/// change it checked (admins and owners are changed by owners only).
async fn member_to_change(
    state: &AppState,
    caller: &Caller,
    user_id: i64,
) -> Result<(Member, Vec<Member>), ApiError> {
    let all = state
        .accounts
        .members(caller.org_id())
        .await
        .map_err(ApiError::internal)?;
    let member = all
        .iter()
        .find(|m| m.user_id == user_id)
        .cloned()
        .ok_or_else(|| not_found("member"))?;
    may_grant(caller, member.role)?;
    Ok((member, all))
}

/// 409 when `member` is the organisation's last owner.
fn keep_an_owner(member: &Member, all: &[Member]) -> Result<(), ApiError> {
    let owners = all.iter().filter(|m| m.role == Role::Owner).count();
    if member.role == Role::Owner && owners <= 1 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "an organisation keeps at least one owner: make another owner first",
        ));
    }
    Ok(())
}

/// `PATCH /api/v1/members/{user_id}` `{"role","sites"}` (admin; owner for
/// admins and owners).
pub async fn update_member(
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let patch: MemberPatch = json_body(&body, None)?;
    let (mut member, all) = member_to_change(&state, &caller, path.into_inner()).await?;
    let role = patch.role.unwrap_or(member.role);
    may_grant(&caller, role)?;
    if role != Role::Owner {
        keep_an_owner(&member, &all)?;
    }
    let sites = patch.sites.unwrap_or_else(|| member.sites.clone());
    check_sites(&state, &caller, sites.as_deref()).await?;
    let found = state
        .accounts
        .update_member(caller.org_id(), member.user_id, role, sites.as_deref())
        .await
        .map_err(ApiError::internal)?;
    if !found {
        return Err(not_found("member"));
    }
    audit(
        &state,
        &caller,
        AuditAction::MemberChanged,
        format!("user:{}", member.user_id),
    )
    .await?;
    member.role = role;
    member.sites = sites;
    Ok(HttpResponse::Ok().json(member))
}

/// `DELETE /api/v1/members/{user_id}` (admin; owner for admins and
/// owners): the membership ends and the person's sign-ins are revoked at
/// once; their open live sockets close within
/// [`super::live::CREDENTIAL_RECHECK`].
pub async fn remove_member(
    req: HttpRequest,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let (member, all) = member_to_change(&state, &caller, path.into_inner()).await?;
    keep_an_owner(&member, &all)?;
    let removed = state
        .accounts
        .remove_member(caller.org_id(), member.user_id, reel_actors::now_ms())
        .await
        .map_err(ApiError::internal)?;
    if !removed {
        return Err(not_found("member"));
    }
    audit(
        &state,
        &caller,
        AuditAction::MemberChanged,
        format!("user:{}", member.user_id),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The dashboard's origin for links: the first configured public origin,
/// else the request's own scheme and host.
fn public_origin(req: &HttpRequest, state: &AppState) -> String {
    match state.config.accounts.public_origins.first() {
        Some(o) => o.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// `POST /api/v1/invitations` `{"email","role","sites"}` (admin; owner to
/// invite an admin or owner) → `{"id","url"}`: the link holds the
/// single-use code, shown this once.
pub async fn create_invitation(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let inv: InvitationRequest = json_body(&body, None)?;
    let email = normalize_email(&inv.email);
    if !valid_email(&email) {
        return Err(bad_request("that is not an email address"));
    }
    may_grant(&caller, inv.role)?;
    check_sites(&state, &caller, inv.sites.as_deref()).await?;
    let members = state
        .accounts
        .members(caller.org_id())
        .await
        .map_err(ApiError::internal)?;
    if members.iter().any(|m| m.email == email) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("{email} is a member already"),
        ));
    }
    let code = new_secret_id();
    let now = reel_actors::now_ms();
    let ttl = state.config.accounts.invitation_ttl_ms as i64;
    let id = state
        .accounts
        .create_invitation(
            caller.org_id(),
            &email,
            inv.role,
            inv.sites.as_deref(),
            &token_hash(&code),
            &caller.actor_name(),
            now,
            now + ttl,
        )
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &caller,
        AuditAction::InvitationCreated,
        format!("invitation:{id}"),
    )
    .await?;
    let url = format!("{}/app/#/invite/{code}", public_origin(&req, &state));
    Ok(HttpResponse::Ok().json(InvitationCreated { id, url }))
}

/// `GET /api/v1/invitations` (admin), newest first.
pub async fn invitations(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let invitations = state
        .accounts
        .invitations(caller.org_id())
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(InvitationList { invitations }))
}

/// `DELETE /api/v1/invitations/{id}` (admin): an unused invitation can no
/// longer be accepted.
pub async fn revoke_invitation(
    req: HttpRequest,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let id = path.into_inner();
    let revoked = state
        .accounts
        .revoke_invitation(caller.org_id(), id, reel_actors::now_ms())
        .await
        .map_err(ApiError::internal)?;
    if !revoked {
        return Err(not_found("unused invitation"));
    }
    audit(
        &state,
        &caller,
        AuditAction::InvitationRevoked,
        format!("invitation:{id}"),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/invitations/{code}/accept` `{"name","password"}` (no
/// credential: the code is one): creates the person with the invitation's
/// role and sites and signs them in.
pub async fn accept_invitation(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: AcceptInvitation = json_body(&body, Some(r#"{"name":S,"password":S}"#))?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(bad_request(format!(
            "a name has 1 to {MAX_NAME_BYTES} bytes"
        )));
    }
    body.password.check_strength().map_err(bad_request)?;
    let hash = password::hash(&body.password)
        .await
        .map_err(ApiError::internal)?;
    let outcome = state
        .accounts
        .accept_invitation(
            &token_hash(&path.into_inner()),
            name,
            &hash,
            reel_actors::now_ms(),
        )
        .await
        .map_err(ApiError::internal)?;
    let (inv, user_id) = outcome.map_err(|refusal| {
        let (code, message) = match refusal {
            InvitationRefusal::Unknown => {
                (ErrorCode::NotFound, "no such invitation: check the link")
            }
            InvitationRefusal::Expired => (
                ErrorCode::InvitationInvalid,
                "this invitation expired: ask an admin for a new one",
            ),
            InvitationRefusal::Used => (
                ErrorCode::InvitationInvalid,
                "this invitation was used already: sign in, or ask an admin for a new one",
            ),
            InvitationRefusal::Revoked => (
                ErrorCode::InvitationInvalid,
                "this invitation was revoked: ask an admin for a new one",
            ),
            InvitationRefusal::AccountExists => (
                ErrorCode::Conflict,
                "this email has an account already: sign in with it",
            ),
        };
        ApiError::new(code, message)
    })?;
    audit_as(
        &state,
        Some(inv.org_id),
        &inv.email,
        &peer_ip(&req),
        AuditAction::MemberChanged,
        format!("user:{user_id}"),
    )
    .await?;
    sign_in(&req, &state, user_id, inv.org_id).await
}

/// `GET /api/v1/tokens` (admin), newest first; never the tokens themselves.
pub async fn tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let tokens = state
        .accounts
        .tokens(Some(caller.org_id()))
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(TokenList { tokens }))
}

/// `POST /api/v1/tokens` `{"name","role","expires_in_days"}` (admin; owner
/// for an admin or owner token) → `{"id","token"}`, the token shown once.
pub async fn create_token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let body: TokenRequest = json_body(&body, None)?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(bad_request(format!(
            "a token's name has 1 to {MAX_NAME_BYTES} bytes"
        )));
    }
    may_grant(&caller, body.role)?;
    if body
        .expires_in_days
        .is_some_and(|d| d == 0 || d > MAX_TOKEN_DAYS)
    {
        return Err(bad_request(format!(
            "expires_in_days is 1 to {MAX_TOKEN_DAYS}, or null for never"
        )));
    }
    let token = new_token();
    let now = reel_actors::now_ms();
    let expires_at = body.expires_in_days.map(|d| now + i64::from(d) * DAY_MS);
    let id = state
        .accounts
        .create_token(
            caller.org_id(),
            name,
            body.role,
            &token_hash(&token),
            now,
            expires_at,
        )
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &caller,
        AuditAction::TokenCreated,
        format!("token:{id}"),
    )
    .await?;
    Ok(HttpResponse::Ok().json(TokenCreated { id, token }))
}

/// `DELETE /api/v1/tokens/{id}` (admin): revoked at once; live sockets
/// opened with it close within [`super::live::CREDENTIAL_RECHECK`].
pub async fn revoke_token(
    req: HttpRequest,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let id = path.into_inner();
    let revoked = state
        .accounts
        .revoke_token(Some(caller.org_id()), id, reel_actors::now_ms())
        .await
        .map_err(ApiError::internal)?;
    if !revoked {
        return Err(not_found("token"));
    }
    audit(
        &state,
        &caller,
        AuditAction::TokenRevoked,
        format!("token:{id}"),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct AuditQuery {
    cursor: Option<String>,
}

/// `GET /api/v1/audit?cursor=` (admin): newest first,
/// [`AUDIT_PAGE_SIZE`] a page.
pub async fn audit_log(
    req: HttpRequest,
    query: web::Query<AuditQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let before = match &query.cursor {
        Some(c) => Some(c.parse::<i64>().map_err(|_| bad_request("bad cursor"))?),
        None => None,
    };
    let mut rows = state
        .accounts
        .audit_page(caller.org_id(), before, AUDIT_PAGE_SIZE + 1)
        .await
        .map_err(ApiError::internal)?;
    let next_cursor = if rows.len() > AUDIT_PAGE_SIZE as usize {
        rows.truncate(AUDIT_PAGE_SIZE as usize);
        rows.last().map(|(id, _)| id.to_string())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(AuditPage {
        entries: rows.into_iter().map(|(_, e)| e).collect(),
        next_cursor,
    }))
}

/// How long one view counts as one in the audit log: reading a session's
/// events or segments records `replay_viewed`, and watching it live
/// `live_watched`, once per caller and session within this window.
pub const VIEW_AUDIT_WINDOW: Duration = Duration::from_secs(30 * 60);
