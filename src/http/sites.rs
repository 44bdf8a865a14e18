//! Site administration (PROTOCOL.md §5 "Sites"): create a site, change its
//! name, allowed origins, tracker settings and retention, and get its
//! install snippet. Admins only (`Right::Administer`); another
//! organisation's site, or one outside the caller's scope, is 404.
//!
//! A change reaches this node's connected trackers at once (the site
//! cache's entry changes, and each connection following it sends a
//! `settings` message), other nodes through a `SiteChanged` hint on the
//! bus, and any node whose hint is lost within
//! [`crate::site_follow::POLL_INTERVAL`] by polling.

use actix_web::{web, HttpRequest, HttpResponse};
use reel_actors::traits::{topics, BusMessage, SiteRecord, SiteUpdate};
use reel_protocol::accounts::AuditAction;
use reel_protocol::api::SiteInfo;
use reel_protocol::site::{self, NewSite, SiteError, SitePatch, SiteSnippet};
use reel_protocol::ErrorCode;
use serde::de::DeserializeOwned;

use super::auth::{audit, authorize, Right};
use super::{ApiError, AppState};

/// A site as the API shows it.
pub fn site_info(s: SiteRecord) -> SiteInfo {
    SiteInfo {
        id: s.id,
        name: s.name,
        site_key: s.key,
        allowed_origins: s.allowed_origins,
        settings: s.settings,
        retention_days: s.retention_days,
    }
}

fn bad_request(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, e.to_string())
}

/// A JSON body, or 400 saying what is wrong with it.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("bad JSON body: {e}")))
}

fn no_such_site() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such site")
}

/// `POST /api/v1/sites` `{"name":S,"origins":[S]}` → 201 with the site.
pub async fn create_site(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let new: NewSite = json_body(&body)?;
    let name = site::site_name(&new.name).map_err(bad_request)?;
    let origins = site::origins(&new.origins).map_err(bad_request)?;
    let created = state
        .index
        .insert_site(caller.org_id(), &name, &origins)
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &caller,
        AuditAction::SiteChanged,
        format!("site:{}", created.id),
    )
    .await?;
    tracing::info!(
        site_id = created.id,
        org_id = caller.org_id(),
        "site created"
    );
    Ok(HttpResponse::Created().json(site_info(created)))
}

/// `PATCH /api/v1/sites/{id}` with any of `name`, `origins`, `settings`,
/// `retention_days` → 200 with the site.
pub async fn update_site(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let site_id: i64 = path.into_inner().parse().map_err(|_| no_such_site())?;
    let patch: SitePatch = json_body(&body)?;
    if patch.is_empty() {
        return Err(bad_request(SiteError::Empty));
    }
    let mut update = SiteUpdate {
        name: patch
            .name
            .as_deref()
            .map(site::site_name)
            .transpose()
            .map_err(bad_request)?,
        origins: patch
            .origins
            .as_deref()
            .map(site::origins)
            .transpose()
            .map_err(bad_request)?,
        settings: None,
        retention_days: patch
            .retention_days
            .map(site::retention_days)
            .transpose()
            .map_err(bad_request)?,
    };
    let current = state
        .index
        .site_by_id(&caller.scope(), site_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(no_such_site)?;
    if let Some(p) = &patch.settings {
        // The whole settings are written: of two admins patching different
        // fields at the same moment, the later write wins.
        update.settings = Some(p.apply(&current.settings).map_err(bad_request)?);
    }
    let site = state
        .index
        .update_site(caller.org_id(), site_id, &update)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(no_such_site)?;
    audit(
        &state,
        &caller,
        AuditAction::SiteChanged,
        format!("site:{site_id}"),
    )
    .await?;
    tracing::info!(site_id, org_id = caller.org_id(), "site changed");
    // This node's trackers now; other nodes on the hint (or their poll).
    state.sites.update(&site);
    if let Err(e) = state
        .sessions
        .bus()
        .publish(topics::SITES, BusMessage::SiteChanged { site: site.id })
        .await
    {
        tracing::warn!(site_id, error = %e, "site change hint not published: nodes follow by polling");
    }
    Ok(HttpResponse::Ok().json(site_info(site)))
}

/// `GET /api/v1/sites/{id}/snippet` (admin, as the site's other
/// settings) → `{"html":S}`: the `<script>` tag that installs the tracker
/// from this node (as the request reached it).
pub async fn snippet(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let site_id: i64 = path.into_inner().parse().map_err(|_| no_such_site())?;
    let site = state
        .index
        .site_by_id(&caller.scope(), site_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(no_such_site)?;
    let info = req.connection_info();
    let base = format!("{}://{}", info.scheme(), info.host());
    Ok(HttpResponse::Ok().json(SiteSnippet {
        html: super::web::snippet_html(&base, &site.key, site.settings.honor_dnt),
    }))
}
