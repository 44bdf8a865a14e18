//! The replay API (PROTOCOL.md §2): a session's events as NDJSON streamed
//! segment by segment, its index row, and the session list. Every route
//! takes a bearer token or the sign-in cookie ([`authorize`], viewer and
//! above) and sees only the caller's organisation, and of it only the
//! sites the caller is limited to (404 for the others).

use std::collections::VecDeque;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::stream::{self, Stream};
use reel_actors::compacted;
use reel_actors::segment::TabReader;
use reel_actors::traits::{BlobStore, CompactionIndex, Scope, SegmentRecord};
use reel_protocol::accounts::AuditAction;
use reel_protocol::api::{SegmentInfo, SessionFilter, SessionInfo, SiteList, MAX_LIVE_FILTER_IDS};
use reel_protocol::live::Presence;
use reel_protocol::{ErrorCode, EventHeader};
use serde::Deserialize;

use super::accounts::VIEW_AUDIT_WINDOW;
use super::auth::{audit_once, authorize, Right};
use super::{ApiError, AppState};

/// Bytes of NDJSON sent per chunk of a merged stream.
const CHUNK_BYTES: usize = 64 * 1024;

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such session")
}

#[derive(Deserialize)]
pub struct EventsQuery {
    tab: Option<String>,
    /// A seek: ms since the session's start (as the dashboard's `?t=`).
    t: Option<i64>,
}

/// `GET /api/v1/sessions/{session}/events[?tab=ID][&t=MS]`.
pub async fn session_events(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<EventsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (info, segments) = session_and_segments(&req, &state, path.into_inner()).await?;
    let query = query.into_inner();
    if query.t.is_some_and(|t| t < 0) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "t must be ms from the session's start, 0 or more",
        ));
    }
    let seek = query.t.map(|t| info.started_at.saturating_add(t));
    let mut res = HttpResponse::Ok();
    res.content_type("application/x-ndjson")
        .insert_header(("X-Reel-Session-Live", info.live.to_string()))
        .insert_header(("X-Reel-Session-Writing", info.writing.to_string()));
    let store = Store {
        blob: state.blob.clone(),
        frames: state.compaction.clone(),
    };
    Ok(match query.tab {
        Some(tab) => {
            if !info.tabs.contains(&tab) {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    "no such tab in this session",
                ));
            }
            let segs: Vec<SegmentRecord> =
                segments.into_iter().filter(|s| s.tab_id == tab).collect();
            res.streaming(tab_stream(store, segs, seek))
        }
        None => res.streaming(merged_stream(store, segments, seek)),
    })
}

/// Where the events route reads: objects, and compacted objects' frames.
#[derive(Clone)]
pub struct Store {
    pub blob: Arc<dyn BlobStore>,
    pub frames: Arc<dyn CompactionIndex>,
}

/// Reads and decompresses one segment. A segment is one zstd frame per
/// batch, concatenated: `decode_all` is a streaming decoder that reads
/// every frame (a one-shot decompression into a buffer sized from the
/// first frame's content size would stop after the first batch).
async fn load(blob: &Arc<dyn BlobStore>, key: &str) -> Result<Vec<u8>, std::io::Error> {
    let data = blob.get(key).await.map_err(std::io::Error::other)?;
    unzstd(data).await
}

/// Decompresses whole zstd frames off the async threads.
async fn unzstd(data: Bytes) -> Result<Vec<u8>, std::io::Error> {
    tokio::task::spawn_blocking(move || compacted::decompress(&data))
        .await
        .map_err(std::io::Error::other)?
}

/// A compacted object being read frame by frame.
struct OpenObject {
    key: String,
    /// The object from the first frame read on.
    data: Bytes,
    /// Frames left: offset in `data`, length, raw offset in the object.
    frames: VecDeque<(usize, usize, u64)>,
    /// The first raw byte not read yet (the tab's reader).
    from: u64,
}

/// One tab's segments, in seq order, as NDJSON that holds each batch once:
/// segments that overlap (two nodes stored the same batches after a
/// failover) are cut to the batches not read yet, or skipped unloaded. A
/// compacted object is read one frame at a time.
pub struct TabSegments {
    segments: VecDeque<SegmentRecord>,
    reader: TabReader,
    open: Option<OpenObject>,
    /// A seek not done yet: ms since the Unix epoch.
    seek: Option<i64>,
}

impl TabSegments {
    /// `segments` of one tab, in any order. They are read in seq order,
    /// the longest first of those that start at one seq (the others are
    /// then skipped whole). With `seek`, reading starts at the segment
    /// holding that time (and in a compacted object, at the frame of the
    /// last full snapshot at or before it), at its last page load (Meta
    /// event) at or before it.
    pub fn new(
        segments: impl IntoIterator<Item = SegmentRecord>,
        seek: Option<i64>,
    ) -> TabSegments {
        let mut segments: Vec<SegmentRecord> = segments.into_iter().collect();
        segments.sort_by_key(|s| (s.first_seq, std::cmp::Reverse(s.last_seq)));
        if let Some(at) = seek {
            // Whole segments before the one holding `at` are skipped.
            let start = segments.iter().rposition(|s| s.first_ts <= at).unwrap_or(0);
            segments.drain(..start);
        }
        TabSegments {
            segments: segments.into(),
            reader: TabReader::default(),
            open: None,
            seek,
        }
    }

    /// The next lines not read yet (a segment's, or a compacted object's
    /// frame's); `None` when the tab is done.
    pub async fn next(&mut self, store: &Store) -> Option<Result<Vec<u8>, std::io::Error>> {
        loop {
            if let Some(open) = &mut self.open {
                let Some((at, len, raw_offset)) = open.frames.pop_front() else {
                    self.open = None;
                    continue;
                };
                let frame = open.data.slice(at..(at + len).min(open.data.len()));
                let mut data = match unzstd(frame).await {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!(key = %open.key, error = %e, "compacted frame unreadable");
                        self.open = None;
                        return Some(Err(e));
                    }
                };
                if open.from > raw_offset {
                    data.drain(..((open.from - raw_offset) as usize).min(data.len()));
                }
                if let Some(at) = self.seek.take() {
                    data.drain(..compacted::seek_in(&data, at));
                }
                if data.is_empty() {
                    continue;
                }
                return Some(Ok(data));
            }
            let seg = self.segments.pop_front()?;
            let Some(from) = self.reader.unread_from(&seg) else {
                continue;
            };
            if compacted::is_compacted(&seg.blob_key) {
                match self.open_compacted(store, &seg, from).await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(key = %seg.blob_key, error = %e, "compacted object unreadable");
                        return Some(Err(e));
                    }
                }
            }
            return Some(match load(&store.blob, &seg.blob_key).await {
                Ok(mut data) => {
                    data.drain(..(from as usize).min(data.len()));
                    if let Some(at) = self.seek.take() {
                        data.drain(..compacted::seek_in(&data, at));
                    }
                    Ok(data)
                }
                Err(e) => {
                    tracing::error!(key = %seg.blob_key, error = %e, "segment unreadable");
                    Err(e)
                }
            });
        }
    }

    /// Opens a compacted object at the frame to read first (`from` on, or
    /// the seek's); false when it has no range index (read it whole).
    async fn open_compacted(
        &mut self,
        store: &Store,
        seg: &SegmentRecord,
        from: u64,
    ) -> Result<bool, std::io::Error> {
        let frames = store
            .frames
            .frames(&seg.blob_key)
            .await
            .map_err(std::io::Error::other)?;
        if frames.is_empty() {
            return Ok(false);
        }
        let first = match self.seek {
            Some(at) => compacted::seek_frame(&frames, at),
            None => frames
                .iter()
                .rposition(|f| f.raw_offset <= from)
                .unwrap_or(0),
        };
        let base = frames[first].offset;
        let data = if base == 0 {
            store.blob.get(&seg.blob_key).await
        } else {
            store.blob.get_from(&seg.blob_key, base).await
        }
        .map_err(std::io::Error::other)?;
        self.open = Some(OpenObject {
            key: seg.blob_key.clone(),
            data,
            frames: frames[first..]
                .iter()
                .map(|f| ((f.offset - base) as usize, f.length as usize, f.raw_offset))
                .collect(),
            from,
        });
        Ok(true)
    }
}

/// One tab's segments in seq order, each sent as soon as it is read.
fn tab_stream(
    store: Store,
    segments: Vec<SegmentRecord>,
    seek: Option<i64>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    stream::unfold(
        (store, TabSegments::new(segments, seek)),
        |(store, mut segs)| async move {
            let item = segs.next(&store).await?.map(Bytes::from);
            Some((item, (store, segs)))
        },
    )
}

/// A tab's cursor in a merge: its current segment's lines and what is left.
struct TabCursor {
    segments: TabSegments,
    data: Vec<u8>,
    pos: usize,
    /// Timestamp of the line at `pos`, when one is loaded.
    head_ts: Option<i64>,
}

impl TabCursor {
    /// Loads segments until a line is at `pos`, or the tab is done.
    async fn fill(&mut self, store: &Store) -> Result<(), std::io::Error> {
        while self.pos >= self.data.len() {
            let Some(data) = self.segments.next(store).await else {
                self.head_ts = None;
                return Ok(());
            };
            self.data = data?;
            self.pos = 0;
        }
        let end = self.line_end();
        let line = std::str::from_utf8(&self.data[self.pos..end]).unwrap_or("");
        // A line that does not parse sorts by the previous line's time.
        self.head_ts = Some(
            EventHeader::parse(line)
                .map(|h| h.timestamp)
                .unwrap_or(self.head_ts.unwrap_or(i64::MIN)),
        );
        Ok(())
    }

    fn line_end(&self) -> usize {
        self.data[self.pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.data.len(), |i| self.pos + i)
    }
}

/// All tabs merged by timestamp. Each tab's own order is kept; equal
/// timestamps keep arrival order (the tab that started first goes first).
fn merged_stream(
    blob: Store,
    segments: Vec<SegmentRecord>,
    seek: Option<i64>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    // Tabs in arrival order of their first segment.
    let mut tabs: Vec<(i64, String, VecDeque<SegmentRecord>)> = Vec::new();
    for seg in segments {
        match tabs.iter_mut().find(|t| t.1 == seg.tab_id) {
            Some(t) => {
                t.0 = t.0.min(seg.received_at);
                t.2.push_back(seg);
            }
            None => tabs.push((seg.received_at, seg.tab_id.clone(), VecDeque::from([seg]))),
        }
    }
    tabs.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let cursors: Vec<TabCursor> = tabs
        .into_iter()
        .map(|(_, _, segments)| TabCursor {
            segments: TabSegments::new(segments, seek),
            data: Vec::new(),
            pos: 0,
            head_ts: None,
        })
        .collect();
    stream::unfold(
        (blob, cursors, false),
        |(blob, mut cursors, started)| async move {
            if !started {
                for c in cursors.iter_mut() {
                    if let Err(e) = c.fill(&blob).await {
                        return Some((Err(e), (blob, Vec::new(), true)));
                    }
                }
            }
            let mut out = Vec::with_capacity(CHUNK_BYTES + 4096);
            while out.len() < CHUNK_BYTES {
                // The earliest head; ties go to the earlier tab (stable).
                let next = cursors
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| c.head_ts.map(|ts| (ts, i)))
                    .min();
                let Some((_, i)) = next else { break };
                let c = &mut cursors[i];
                let end = c.line_end();
                out.extend_from_slice(&c.data[c.pos..end]);
                out.push(b'\n');
                c.pos = end + 1;
                if let Err(e) = c.fill(&blob).await {
                    return Some((Err(e), (blob, Vec::new(), true)));
                }
            }
            if out.is_empty() {
                None
            } else {
                Some((Ok(Bytes::from(out)), (blob, cursors, true)))
            }
        },
    )
}

/// `GET /api/v1/sessions/{session}`.
pub async fn session(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Read).await?;
    let info = session_row(&state, &caller.scope(), &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(info))
}

/// The session's row, with `writing` set when this node still holds
/// writes of it for storage.
async fn session_row(
    state: &AppState,
    scope: &Scope,
    session_id: &str,
) -> Result<SessionInfo, ApiError> {
    let mut info = state
        .index
        .session_info(scope, session_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    super::failures::tag_site(info.site_id);
    crate::http::timing::note_site(info.site_id);
    info.writing = state.outbox.has_pending(session_id);
    info.live = live_ids(state, info.site_id)
        .await?
        .iter()
        .any(|id| id == session_id);
    Ok(info)
}

/// The site's sessions a tracker is connected to now: its presence
/// entries (PROTOCOL.md §7: "live" means this, everywhere), newest first,
/// at most [`MAX_LIVE_FILTER_IDS`].
async fn live_ids(state: &AppState, site_id: i64) -> Result<Vec<String>, ApiError> {
    let present = state
        .sessions
        .presence()
        .list(site_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(newest_live(present, MAX_LIVE_FILTER_IDS))
}

/// The ids of the newest `max` of `present` (a presence list, newest first).
fn newest_live(present: Vec<Presence>, max: usize) -> Vec<String> {
    if present.len() > max {
        tracing::warn!(
            live = present.len(),
            max,
            "more live sessions than the live filter takes"
        );
    }
    present.into_iter().take(max).map(|p| p.session).collect()
}

/// The caller's session row and its stored segments, for a replay: the
/// audit log records `replay_viewed` once per caller and session within
/// [`VIEW_AUDIT_WINDOW`] (a replay reads the row, the segments and each
/// tab's events: one view).
async fn session_and_segments(
    req: &HttpRequest,
    state: &AppState,
    session_id: String,
) -> Result<(SessionInfo, Vec<SegmentRecord>), ApiError> {
    let caller = authorize(req, state, Right::Read).await?;
    let info = session_row(state, &caller.scope(), &session_id).await?;
    audit_once(
        state,
        &caller,
        AuditAction::ReplayViewed,
        format!("session:{session_id}"),
        VIEW_AUDIT_WINDOW,
    )
    .await?;
    let segments = state
        .index
        .segments(&session_id)
        .await
        .map_err(ApiError::internal)?;
    Ok((info, segments))
}

/// `GET /api/v1/sessions/{session}/segments`: the session's stored
/// segments, each with a presigned URL when the blob store signs them, and
/// its batch ends, for clients to skip batches that overlapping segments
/// hold twice (see [`SegmentInfo`]).
pub async fn session_segments(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (info, segments) = session_and_segments(&req, &state, path.into_inner()).await?;
    let mut out = Vec::with_capacity(segments.len());
    for s in segments {
        out.push(SegmentInfo {
            url: state
                .blob
                .presign_get(&s.blob_key)
                .await
                .map_err(ApiError::internal)?,
            tab: s.tab_id,
            first_seq: s.first_seq,
            last_seq: s.last_seq,
            first_ts: s.first_ts,
            last_ts: s.last_ts,
            event_count: s.event_count,
            stored_bytes: s.stored_bytes,
            key: s.blob_key,
            batch_ends: (!s.batch_ends.is_empty()).then_some(s.batch_ends),
        });
    }
    Ok(HttpResponse::Ok()
        .insert_header(("X-Reel-Session-Writing", info.writing.to_string()))
        .json(out))
}

/// `GET /api/v1/sites`: the sites of the caller's organisation that the
/// caller may see.
pub async fn list_sites(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Read).await?;
    let sites = state
        .index
        .sites(&caller.scope())
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(SiteList {
        sites: sites.into_iter().map(super::sites::site_info).collect(),
    }))
}

/// `GET /api/v1/sites/{site_id}/sessions?from&to&...&limit&cursor`: the
/// filters of [`SessionFilter`] (protocol/README.md), each checked
/// ([`SessionFilter::check`], 400 naming the parameter), combined with AND.
pub async fn list_sessions(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Read).await?;
    let scope = caller.scope();
    let site_id: i64 = path
        .into_inner()
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::NotFound, "no such site"))?;
    let filter = parse_filter(req.query_string())?;
    if let Some(c) = &filter.cursor {
        let ok = c
            .split_once('_')
            .is_some_and(|(ts, _)| ts.parse::<i64>().is_ok());
        if !ok {
            return Err(ApiError::new(ErrorCode::BadRequest, "bad cursor"));
        }
    }
    state
        .index
        .site_by_id(&scope, site_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such site"))?;
    let live = live_ids(&state, site_id).await?;
    let mut page = state
        .index
        .list_sessions(&scope, site_id, &filter, &live)
        .await
        .map_err(ApiError::internal)?;
    for s in &mut page.sessions {
        s.live = live.contains(&s.id);
    }
    Ok(HttpResponse::Ok().json(page))
}

/// The list's query string as a [`SessionFilter`], checked: a 400 whose
/// message names the parameter that does not parse or breaks a bound.
fn parse_filter(query: &str) -> Result<SessionFilter, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::BadRequest, m);
    let filter = match web::Query::<SessionFilter>::from_query(query) {
        Ok(f) => f.into_inner(),
        Err(e) => {
            // Which parameter: the first that fails on its own.
            let param = query
                .split('&')
                .find(|pair| web::Query::<SessionFilter>::from_query(pair).is_err())
                .map(|pair| pair.split('=').next().unwrap_or(pair));
            return Err(bad(match param {
                Some(p) => format!("{p}: {e}"),
                None => e.to_string(),
            }));
        }
    };
    filter.check().map_err(|e| bad(e.to_string()))?;
    Ok(filter)
}

/// `POST /api/v1/admin/maintenance`: kept so that old clients learn why
/// it no longer works. Maintenance is the operator's (`reel maintenance
/// on|off`), not an organisation's: every caller, whatever its role
/// (owner included), gets 403 `forbidden`; no credential gets 401.
pub async fn set_maintenance(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Read).await?;
    tracing::warn!(actor = %caller.actor_name(), org_id = caller.org_id(), role = %caller.role(), "maintenance switch refused: it is the operator's");
    Err(ApiError::new(
        ErrorCode::Forbidden,
        "maintenance is the operator's: run `reel maintenance on|off` on the server",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(session: &str) -> Presence {
        Presence {
            session: session.into(),
            visitor: "v".into(),
            user_id: None,
            url: String::new(),
            title: String::new(),
            browser: String::new(),
            os: String::new(),
            device: String::new(),
            started_at: 0,
            last_activity_at: 0,
            node: "n".into(),
            signals: Default::default(),
        }
    }

    #[test]
    fn the_live_filter_takes_the_newest_live_sessions_up_to_its_bound() {
        let list = vec![present("c"), present("b"), present("a")];
        assert_eq!(newest_live(list.clone(), 3), ["c", "b", "a"]);
        assert_eq!(newest_live(list, 2), ["c", "b"]);
    }
}
