//! HTTP and WebSocket routes: ingest (§1), the replay API (§2), health and
//! metrics (§3), live (§4), accounts and access (§5), the data lifecycle
//! (§6), notes (§7). Errors map to
//! statuses in one place, [`ApiError`]; who may call what is decided in
//! one place, [`auth`]; failures reach Sentry once each through
//! [`failures`].

pub mod accounts;
pub mod admission;
pub mod api;
pub mod auth;
pub mod client_addr;
pub mod failures;
pub mod headers;
pub mod ingest;
pub mod lifecycle;
pub mod live;
pub mod notes;
pub mod site_cache;
pub mod sites;
pub mod timing;
pub mod web;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web as aweb, HttpResponse, ResponseError};
use dashmap::DashMap;
use reel_actors::metric_names;
use reel_actors::recovery::DrainState;
use reel_actors::traits::{BlobStore, Index, StoreError};
use reel_actors::Sessions;
use reel_protocol::error::ErrorBody;
use reel_protocol::ErrorCode;
use tokio::sync::watch;

use crate::config::Config;

/// Where the node is in its life; connections follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Maintenance (the operator's switch, followed by [`crate::maintenance`]):
    /// refuse new recordings (503), close open ones (4503).
    Maintenance,
    /// SIGTERM: refuse new connections, send `goaway` to open ones.
    Draining,
    /// Buffers are flushed: close every connection.
    Closing,
}

/// Shared by every route.
pub struct AppState {
    pub config: Arc<Config>,
    pub index: Arc<dyn Index>,
    pub blob: Arc<dyn BlobStore>,
    /// Index and blob writes waiting for storage.
    pub outbox: Arc<reel_actors::outbox::Outbox>,
    pub spool: Arc<dyn reel_actors::traits::Spool>,
    /// Follows whether the spool's disk is full.
    pub disk_full: tokio::sync::watch::Receiver<bool>,
    /// Sites by key, for ingest while the index is down; open connections
    /// follow their site's changes through it.
    pub sites: site_cache::SiteCache,
    pub sessions: Sessions,
    pub phase: watch::Sender<Phase>,
    /// The operator's maintenance message, told to trackers with the 503
    /// and the 4503 (see [`crate::maintenance`]); empty when none.
    pub maintenance_message: std::sync::RwLock<String>,
    pub conns: ConnCounts,
    /// The ingest budget (backpressure) and the recent ack delay (admission).
    pub admission: admission::Admission,
    pub node_id: String,
    pub web: web::WebAssets,
    /// People, sign-ins, tokens, invitations and the audit log.
    pub accounts: Arc<dyn crate::accounts::AccountStore>,
    /// Failed sign-ins per email and per address (this node's memory).
    pub login_limiter: crate::accounts::limiter::LoginLimiter,
    /// Deleting sessions, erasing people, the retention sweep (§6).
    pub lifecycle: reel_actors::lifecycle::Lifecycle,
    /// Wakes this node's lifecycle worker (a new erasure job).
    pub lifecycle_wake: Arc<tokio::sync::Notify>,
    /// Compacted objects' range indexes (seeks of the events route).
    pub compaction: Arc<dyn reel_actors::traits::CompactionIndex>,
    /// The feature flag rules this node knows (see [`crate::flags`]); open
    /// ingest connections follow them.
    pub flags: watch::Sender<Arc<reel_actors::flags::FlagRules>>,
    /// Where the rules are kept (the index).
    pub flag_store: Arc<dyn reel_actors::flags::FlagStore>,
}

impl AppState {
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// What a tracker refused or closed by maintenance is told.
    pub fn maintenance_refusal(&self) -> String {
        let message = self
            .maintenance_message
            .read()
            .map(|m| m.clone())
            .unwrap_or_default();
        if message.is_empty() {
            "reel is in maintenance".to_owned()
        } else {
            format!("reel is in maintenance: {message}")
        }
    }
}

/// Open ingest connections, by client address and by site, for the
/// connection limits.
#[derive(Default)]
pub struct ConnCounts {
    /// By [`client_addr::limit_key`]: IPv6 clients by their /64.
    pub per_ip: DashMap<IpAddr, u64>,
    pub per_site: DashMap<i64, u64>,
    pub next_id: AtomicU64,
}

/// Holds one connection's place in [`ConnCounts`]; gives it back on drop.
pub struct ConnSlot {
    state: aweb::Data<AppState>,
    ip: Option<IpAddr>,
    site: i64,
}

impl ConnCounts {
    /// Takes a place for a connection of client `ip` (its
    /// [`client_addr::client_addr`]), or says which limit is reached.
    pub fn acquire(
        state: &aweb::Data<AppState>,
        ip: Option<IpAddr>,
        site: i64,
    ) -> Result<ConnSlot, ApiError> {
        let ip = ip.map(client_addr::limit_key);
        let limits = &state.config.limits;
        let counts = &state.conns;
        if let Some(ip) = ip {
            let mut n = counts.per_ip.entry(ip).or_insert(0);
            if *n >= limits.connections_per_ip {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    "too many connections from this address",
                ));
            }
            *n += 1;
        }
        {
            let mut n = counts.per_site.entry(site).or_insert(0);
            if *n >= limits.connections_per_site {
                drop(n);
                release_ip(counts, ip);
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    "too many connections for this site",
                ));
            }
            *n += 1;
        }
        metrics::gauge!(metric_names::OPEN_CONNECTIONS).increment(1.0);
        Ok(ConnSlot {
            state: state.clone(),
            ip,
            site,
        })
    }
}

fn release_ip(counts: &ConnCounts, ip: Option<IpAddr>) {
    if let Some(ip) = ip {
        counts.per_ip.remove_if_mut(&ip, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let counts = &self.state.conns;
        release_ip(counts, self.ip);
        counts.per_site.remove_if_mut(&self.site, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        metrics::gauge!(metric_names::OPEN_CONNECTIONS).decrement(1.0);
    }
}

impl ConnCounts {
    pub fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// An HTTP refusal or API error: `{"error": code, "message": text}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// `Retry-After` in seconds (503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        metrics::counter!(metric_names::ERRORS_TOTAL, "code" => self.code.as_str()).increment(1);
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        res.json(ErrorBody {
            error: self.code,
            message: self.message.clone(),
        })
    }
}

/// The route label of a request no route matched (bounded cardinality:
/// never the path itself).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// A request's route pattern (`/api/v1/sessions/{session}`), never the
/// concrete path with its ids nor the query: the `route` of metrics,
/// slow-request lines, trace spans and Sentry tags.
pub fn route_pattern(req: &actix_web::HttpRequest) -> String {
    req.match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned())
}

/// Records every request's latency by route pattern and status.
pub async fn route_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let route = route_pattern(res.request());
    let status = res.status().as_u16().to_string();
    metrics::histogram!(
        metric_names::HTTP_REQUEST_DURATION_SECONDS,
        "route" => route,
        "method" => method,
        "status" => status
    )
    .record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// A dependency that does not answer a readiness check within this is down.
pub const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /readyz`: each dependency's state (index, blob store, bus), the
/// spool's fill against its bound, the outbox's backlog and the drain of
/// an earlier run's spool. 503 unless the index and blob store answer, the
/// node runs and the spool is not full. A drain in progress does not make
/// the node unready: it records new sessions meanwhile (the drain is
/// background work, and resumed tabs continue past what it holds). Sets
/// `reel_ready` (the node also runs this check on its own, see
/// `app::READY_WATCH_INTERVAL`).
pub async fn readyz(state: aweb::Data<AppState>) -> HttpResponse {
    let (index, blob) = tokio::join!(
        tokio::time::timeout(READY_CHECK_TIMEOUT, state.index.check()),
        tokio::time::timeout(READY_CHECK_TIMEOUT, state.blob.check()),
    );
    let flatten = |r: Result<Result<(), StoreError>, _>| match r {
        Ok(r) => r,
        Err(_) => Err(StoreError::Unavailable("no answer in time".into())),
    };
    let (index, blob) = (flatten(index), flatten(blob));
    let phase = state.phase();
    let spool_bytes = state.spool.bytes();
    let spool_max = state.config.spool.max_bytes;
    let disk_full = state.spool.disk_full();
    let spool_full = spool_bytes >= spool_max || disk_full;
    let ok = index.is_ok() && blob.is_ok() && phase == Phase::Running && !spool_full;
    metrics::gauge!(metric_names::READY).set(if ok { 1.0 } else { 0.0 });
    let show = |r: &Result<(), StoreError>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not_ready" },
        "index": show(&index),
        "blob_store": show(&blob),
        "bus": match state.sessions.bus().state() {
            Ok(()) => "ok".to_string(),
            Err(e) => e,
        },
        "spool": {
            "bytes": spool_bytes,
            "max_bytes": spool_max,
            "disk_full": disk_full,
            "state": if spool_full { "full" } else if spool_bytes as f64 >= spool_max as f64 * state.config.spool.warn_ratio { "warning" } else { "ok" },
        },
        "outbox": { "queued": state.outbox.queued() },
        "recovery": {
            "state": match state.sessions.recovery().state() {
                DrainState::Draining => "draining",
                DrainState::Done => "done",
                DrainState::Failed => "failed",
            },
            "batches_left": state.sessions.recovery().batches_left(),
        },
        "phase": format!("{phase:?}").to_lowercase(),
        "node": state.node_id,
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics_route() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::prometheus().render())
}

fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", to))
        .finish()
}

/// The health and metrics routes: on the main listener, or alone on the
/// admin listener when `admin_listen` is set.
pub fn admin_routes(cfg: &mut aweb::ServiceConfig) {
    cfg.route("/healthz", aweb::get().to(healthz))
        .route("/readyz", aweb::get().to(readyz))
        .route("/metrics", aweb::get().to(metrics_route));
}

/// Every route of the main listener: with `admin_listen` set, `/readyz`
/// and `/metrics` are only on the admin listener (here 404), `/healthz`
/// on both (load balancers check the address they send traffic to).
pub fn routes(cfg: &mut aweb::ServiceConfig, admin_listener: bool) {
    if admin_listener {
        cfg.route("/healthz", aweb::get().to(healthz));
    } else {
        admin_routes(cfg);
    }
    cfg.route("/v1/ingest", aweb::get().to(ingest::ingest))
        .route("/v1/live", aweb::get().to(live::live))
        .route("/t/loader.js", aweb::get().to(web::loader))
        .route("/t/{file}", aweb::get().to(web::tracker))
        .route("/demo/api/cart", aweb::route().to(web::demo_cart))
        .route("/demo/{page:.*}", aweb::get().to(web::demo))
        .route("/demo", aweb::get().to(|| async { redirect("/demo/") }))
        .route("/app", aweb::get().to(|| async { redirect("/app/") }))
        .route("/", aweb::get().to(|| async { redirect("/app/") }))
        .service(
            aweb::scope("/api/v1")
                .route(
                    "/sessions/{session}/events",
                    aweb::get().to(api::session_events),
                )
                .route(
                    "/sessions/{session}/segments",
                    aweb::get().to(api::session_segments),
                )
                .route("/sessions/{session}", aweb::get().to(api::session))
                .route(
                    "/sessions/{session}",
                    aweb::delete().to(lifecycle::delete_session),
                )
                .route("/sessions/{session}/pin", aweb::post().to(lifecycle::pin))
                .route("/sessions/{session}/pin", aweb::delete().to(lifecycle::pin))
                .route("/sessions/{session}/notes", aweb::get().to(notes::notes))
                .route(
                    "/sessions/{session}/notes",
                    aweb::post().to(notes::add_note),
                )
                .route("/sites/{site_id}/erase", aweb::post().to(lifecycle::erase))
                .route("/sites/{site_id}/usage", aweb::get().to(lifecycle::usage))
                .route("/erasures/{id}", aweb::get().to(lifecycle::erasure))
                .route("/sites", aweb::get().to(api::list_sites))
                .route("/sites", aweb::post().to(sites::create_site))
                .route("/sites/{site_id}", aweb::patch().to(sites::update_site))
                .route("/sites/{site_id}/snippet", aweb::get().to(sites::snippet))
                .route(
                    "/sites/{site_id}/sessions",
                    aweb::get().to(api::list_sessions),
                )
                .route("/login", aweb::post().to(accounts::login))
                .route("/logout", aweb::post().to(accounts::logout))
                .route("/me", aweb::get().to(accounts::me))
                .route("/members", aweb::get().to(accounts::members))
                .route(
                    "/members/{user_id}",
                    aweb::patch().to(accounts::update_member),
                )
                .route(
                    "/members/{user_id}",
                    aweb::delete().to(accounts::remove_member),
                )
                .route("/invitations", aweb::get().to(accounts::invitations))
                .route("/invitations", aweb::post().to(accounts::create_invitation))
                .route(
                    "/invitations/{id}",
                    aweb::delete().to(accounts::revoke_invitation),
                )
                .route(
                    "/invitations/{code}/accept",
                    aweb::post().to(accounts::accept_invitation),
                )
                .route("/tokens", aweb::get().to(accounts::tokens))
                .route("/tokens", aweb::post().to(accounts::create_token))
                .route("/tokens/{id}", aweb::delete().to(accounts::revoke_token))
                .route("/audit", aweb::get().to(accounts::audit_log))
                .route("/admin/maintenance", aweb::post().to(api::set_maintenance)),
        );
}
