//! Notes on a session (PROTOCOL.md §7): `POST /api/v1/sessions/{id}/notes`
//! (member and above, audited as `note_added`) and `GET` (anyone who can
//! see the session). The index applies the caller's scope: another
//! organisation's or site's session, or a deleted one, is 404.

use actix_web::{web, HttpRequest, HttpResponse};
use reel_actors::traits::NoteAdded;
use reel_protocol::accounts::AuditAction;
use reel_protocol::notes::{NewNote, NoteError, NoteList, MAX_NOTES_PER_SESSION};
use reel_protocol::ErrorCode;

use super::auth::{audit, authorize, Right};
use super::{ApiError, AppState};

fn no_such_session() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such session")
}

/// 409 `conflict` for a full session (what is stored refuses it), 400
/// `bad_request` for the rest.
fn refused(e: NoteError) -> ApiError {
    let code = match e {
        NoteError::TooMany => ErrorCode::Conflict,
        NoteError::Empty | NoteError::TooLong | NoteError::Control | NoteError::BadTime => {
            ErrorCode::BadRequest
        }
    };
    ApiError::new(code, e.to_string())
}

/// `POST /api/v1/sessions/{id}/notes` `{"t":ms,"text":S}` → 201 with the
/// note.
pub async fn add_note(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Annotate).await?;
    let session_id = path.into_inner();
    let note: NewNote = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("bad JSON body: {e}")))?;
    let note = note.checked().map_err(refused)?;
    let added = state
        .index
        .add_note(
            &caller.scope(),
            &session_id,
            &note,
            &caller.actor_name(),
            reel_actors::now_ms(),
            MAX_NOTES_PER_SESSION,
        )
        .await
        .map_err(ApiError::internal)?;
    let note = match added {
        NoteAdded::Added(note) => note,
        NoteAdded::Full => return Err(refused(NoteError::TooMany)),
        NoteAdded::NotFound => return Err(no_such_session()),
    };
    audit(
        &state,
        &caller,
        AuditAction::NoteAdded,
        format!("session:{session_id}"),
    )
    .await?;
    Ok(HttpResponse::Created().json(note))
}

/// `GET /api/v1/sessions/{id}/notes` → `{"notes":[...]}`, by `t`.
pub async fn notes(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Read).await?;
    let notes = state
        .index
        .notes(&caller.scope(), &path.into_inner())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(no_such_session)?;
    Ok(HttpResponse::Ok().json(NoteList { notes }))
}
