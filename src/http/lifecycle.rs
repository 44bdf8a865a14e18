//! The data lifecycle routes (PROTOCOL.md §6): deleting a session (admin),
//! pinning it (member), erasing a person and reading the erasure's receipt
//! (admin), and a site's usage (viewer and above). The work itself is
//! [`reel_actors::lifecycle`]'s; every route sees only what the caller's
//! scope reaches (404 for the rest).

use actix_web::{web, HttpRequest, HttpResponse};
use reel_actors::traits::{DeleteReason, SessionRef};
use reel_protocol::accounts::AuditAction;
use reel_protocol::lifecycle::{EraseAccepted, EraseRequest};
use reel_protocol::ErrorCode;

use super::auth::{audit, authorize, Right};
use super::{ApiError, AppState};

fn no_such_session() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such session")
}

fn no_such_site() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such site")
}

/// `DELETE /api/v1/sessions/{id}` → 204: ends it if live (on any node),
/// tombstones it, deletes its objects and rows.
pub async fn delete_session(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let id = path.into_inner();
    let info = state
        .index
        .session_info(&caller.scope(), &id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(no_such_session)?;
    audit(
        &state,
        &caller,
        AuditAction::SessionDeleted,
        format!("session:{id}"),
    )
    .await?;
    let session = SessionRef {
        id,
        site_id: info.site_id,
    };
    state
        .lifecycle
        .delete_session(&session, DeleteReason::Deleted, None)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST|DELETE /api/v1/sessions/{id}/pin` → 204: keep the session past
/// its site's retention, or no longer.
pub async fn pin(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Annotate).await?;
    let pinned = req.method() == actix_web::http::Method::POST;
    let found = state
        .index
        .set_pinned(&caller.scope(), &path.into_inner(), pinned)
        .await
        .map_err(ApiError::internal)?;
    if !found {
        return Err(no_such_session());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/sites/{id}/erase` `{"user_id":S}` or `{"visitor_id":S}`
/// → 202 `{"id":S}`: a durable job that a node's lifecycle worker runs.
pub async fn erase(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let site_id: i64 = path.into_inner().parse().map_err(|_| no_such_site())?;
    let request: EraseRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("bad JSON body: {e}")))?;
    let person = request
        .person()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    state
        .index
        .site_by_id(&caller.scope(), site_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(no_such_site)?;
    let id = state
        .index
        .create_erasure(caller.org_id(), site_id, &person)
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &caller,
        AuditAction::Erased,
        format!("erasure:{id}"),
    )
    .await?;
    tracing::info!(erasure_id = %id, site_id, "erasure requested");
    state.lifecycle_wake.notify_one();
    Ok(HttpResponse::Accepted().json(EraseAccepted { id }))
}

/// `GET /api/v1/erasures/{id}`: the receipt.
pub async fn erasure(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Administer).await?;
    let receipt = state
        .index
        .erasure(caller.org_id(), &path.into_inner())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such erasure"))?;
    Ok(HttpResponse::Ok().json(receipt))
}

/// `GET /api/v1/sites/{id}/usage`.
pub async fn usage(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Read).await?;
    let site_id: i64 = path.into_inner().parse().map_err(|_| no_such_site())?;
    let usage = state
        .index
        .site_usage(&caller.scope(), site_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(no_such_site)?;
    Ok(HttpResponse::Ok().json(usage))
}
