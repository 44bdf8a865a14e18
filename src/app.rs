//! Builds a node from its config, runs it, and shuts it down gracefully.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use reel_actors::bus::InProcessBus;
use reel_actors::traits::{BlobStore, Index, Spool};
use reel_actors::{Sessions, SessionsConfig};
use tokio::sync::watch;

use crate::blob::LocalBlobStore;
use crate::config::Config;
use crate::http::web::WebAssets;
use crate::http::{self, AppState, ConnCounts, Phase};
use crate::index::sqlite::SqliteIndex;
use crate::spool::{remove_files, FileSpool};

/// How often the node ends sessions that no node holds any more.
pub const ORPHAN_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Time kept back from the shutdown deadline for stopping the server.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(1500);

/// Opens the configured index (and migrates it when asked).
pub async fn open_index(config: &Config) -> anyhow::Result<SqliteIndex> {
    let url = config.database_url();
    SqliteIndex::connect(&url)
        .await
        .context("opening the index")
}

/// A running node.
pub struct Node {
    pub addr: SocketAddr,
    pub state: web::Data<AppState>,
    handle: ServerHandle,
    server: Option<actix_web::dev::Server>,
}

impl Node {
    /// Recovers the spool, then starts serving. Must run inside an actix
    /// system (`actix_web::rt::System`).
    pub async fn start(config: Config) -> anyhow::Result<Node> {
        let config = Arc::new(config);
        // Install the recorder before anything records.
        crate::telemetry::prometheus();
        metrics::gauge!("reel_open_connections").set(0.0);
        metrics::gauge!("reel_live_sessions").set(0.0);
        let node_id = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", reel_actors::sessions::new_id(8)));
        let sqlite = open_index(&config).await?;
        sqlite.migrate().await.context("migrating the index")?;
        let demo_site_key = if config.demo {
            Some(
                sqlite
                    .ensure_site(crate::index::DEFAULT_ORG, DEMO_SITE)
                    .await?
                    .1,
            )
        } else {
            None
        };
        let index: Arc<dyn Index> = Arc::new(sqlite);
        let blob: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::open(&config.blob_dir())?);

        // Everything acked before a crash reaches the blob store first.
        let spool_dir = config.spool_dir();
        let (spool, recovered) =
            FileSpool::open(&spool_dir, config.spool.file_bytes).context("opening the spool")?;
        if !recovered.files.is_empty() {
            let report = reel_actors::recovery::drain(
                recovered.batches,
                blob.clone(),
                index.clone(),
                config.segments.max_bytes,
            )
            .await
            .context("draining the spool")?;
            remove_files(&spool_dir, &recovered.files)?;
            tracing::info!(
                batches = report.batches,
                already_committed = report.already_committed,
                segments = report.segments,
                torn_tail_bytes = recovered.skipped_tail_bytes,
                "spool drained"
            );
        }
        let spool: Arc<dyn Spool> = Arc::new(spool);
        end_orphans(&index, &config, &[]).await;

        let sessions = Sessions::new(
            blob.clone(),
            index.clone(),
            Arc::new(InProcessBus::default()),
            spool,
            SessionsConfig {
                limits: config.limits.clone(),
                segment_max_bytes: config.segments.max_bytes,
                segment_max_age: Duration::from_millis(config.segments.max_age_ms),
                sweep_interval: config.sweep_interval(),
                node_id: node_id.clone(),
            },
        );
        let phase = if config.maintenance {
            Phase::Maintenance
        } else {
            Phase::Running
        };
        let state = web::Data::new(AppState {
            config: config.clone(),
            index: index.clone(),
            blob,
            sessions,
            phase: watch::channel(phase).0,
            conns: ConnCounts::default(),
            node_id,
            web: WebAssets::load(&config.web, demo_site_key),
        });

        let listener = TcpListener::bind(&config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let app_state = state.clone();
        let dashboard_dir = config.web.dashboard_dir.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(http::route_metrics))
                .configure(http::routes)
                .service(
                    web::scope("/app")
                        .wrap(from_fn(http::web::cache_headers))
                        .service(
                            actix_files::Files::new("", &dashboard_dir).index_file("index.html"),
                        ),
                )
        })
        .disable_signals()
        // Acks are small and latency-bound: never hold one back for Nagle.
        .tcp_nodelay(true)
        .shutdown_timeout(1);
        if let Some(n) = config.workers {
            server = server.workers(n.max(1));
        }
        let server = server.listen(listener)?.run();
        let handle = server.handle();

        let sweep_state = state.clone();
        actix_web::rt::spawn(async move {
            let mut every = tokio::time::interval(ORPHAN_SWEEP_INTERVAL);
            every.tick().await;
            loop {
                every.tick().await;
                let live = sweep_state.sessions.live_ids();
                end_orphans(&sweep_state.index, &sweep_state.config, &live).await;
            }
        });
        tracing::info!(%addr, node = %state.node_id, "reel listening");
        Ok(Node {
            addr,
            state,
            handle,
            server: Some(server),
        })
    }

    /// Serves until the server stops; returns the server future to await.
    pub fn take_server(&mut self) -> Option<actix_web::dev::Server> {
        self.server.take()
    }

    /// SIGTERM: refuse new connections, send `goaway`, commit every
    /// session's buffers, close the connections, stop. Bounded by the
    /// configured deadline.
    pub async fn shutdown(&self) {
        let deadline = Duration::from_millis(self.state.config.shutdown.deadline_ms)
            .saturating_sub(SHUTDOWN_MARGIN);
        let state = self.state.clone();
        tracing::info!(live_sessions = state.sessions.live_count(), "shutting down");
        state.phase.send_replace(Phase::Draining);
        let flushed = tokio::time::timeout(deadline, async {
            state.sessions.flush_all().await;
            state.phase.send_replace(Phase::Closing);
            // Batches that arrived while the first flush ran.
            state.sessions.flush_all().await;
        })
        .await;
        if flushed.is_err() {
            tracing::error!("shutdown deadline passed before every session was flushed; the spool keeps the rest");
        }
        self.handle.stop(true).await;
        tracing::info!("stopped");
    }
}

/// The name of the site `--demo` records the demo shop under.
pub const DEMO_SITE: &str = "Demo shop";

/// Ends sessions that no live node holds and that timed out.
async fn end_orphans(index: &Arc<dyn Index>, config: &Config, live: &[String]) {
    let now = reel_actors::now_ms();
    let inactive_before = now - config.limits.inactivity_timeout_ms as i64;
    let started_before = now - config.limits.max_session_duration_ms as i64;
    match index
        .end_stale_sessions(inactive_before, started_before, live)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(ended = n, "ended sessions left open"),
        Err(e) => tracing::warn!(error = %e, "sweep of stale sessions failed"),
    }
}
