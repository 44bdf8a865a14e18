//! Builds a node from its config, runs it, and shuts it down gracefully.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use reel_actors::bus::InProcessBus;
use reel_actors::metric_names;
use reel_actors::outbox::Outbox;
use reel_actors::presence::InMemoryPresence;
use reel_actors::recovery::{DrainState, Progress};
use reel_actors::traits::{BlobStore, Bus, Index, PresenceStore};
use reel_actors::{Sessions, SessionsConfig};
use tokio::sync::watch;

use crate::accounts::limiter::LoginLimiter;
use crate::blob::LocalBlobStore;
use crate::config::Config;
use crate::dead_letters::DirDeadLetters;
use crate::http::admission::Admission;
use crate::http::web::WebAssets;
use crate::http::{self, AppState, ConnCounts, Phase};
use crate::index::SqlIndex;
use crate::redis::{RedisBus, RedisPresence};
use crate::spool::{self, FileSpool, SpoolOptions};

/// A node id for a node configured without one.
pub fn new_node_id() -> String {
    format!("node-{}", reel_actors::sessions::new_id(8))
}

/// How often the node ends sessions that no node holds any more.
pub const ORPHAN_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Time kept back from the shutdown deadline for stopping the server.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(1500);

/// Opens the configured index (and migrates it when asked).
pub async fn open_index(config: &Config) -> anyhow::Result<SqlIndex> {
    let url = config.database_url();
    SqlIndex::connect(&url).await.context("opening the index")
}

/// Opens the configured blob store: S3 when a bucket is set, else the
/// local blob directory.
pub async fn open_blob_store(config: &Config) -> anyhow::Result<Arc<dyn BlobStore>> {
    let s3 = &config.s3;
    let Some(bucket) = &s3.bucket else {
        return Ok(Arc::new(LocalBlobStore::open(&config.blob_dir())?));
    };
    let store = crate::s3::S3BlobStore::connect(crate::s3::S3Options {
        bucket: bucket.clone(),
        endpoint: s3.endpoint.clone(),
        region: s3.region.clone(),
        path_style: s3.path_style.unwrap_or(s3.endpoint.is_some()),
        multipart_threshold: s3.multipart_threshold,
        part_size: s3.part_size,
        presign_ttl: s3.presign_ttl_s.map(Duration::from_secs),
        credentials: config.s3_credentials(),
    })
    .await
    .context("configuring S3")?;
    if s3.create_bucket {
        store
            .create_bucket_if_missing()
            .await
            .context("creating the S3 bucket")?;
    }
    Ok(Arc::new(store))
}

/// A running node.
pub struct Node {
    pub addr: SocketAddr,
    /// Where `/healthz`, `/readyz` and `/metrics` are served alone, when
    /// `admin_listen` is set.
    pub admin_addr: Option<SocketAddr>,
    pub state: web::Data<AppState>,
    handle: ServerHandle,
    /// The admin listener's server (it runs on its own task).
    admin_handle: Option<ServerHandle>,
    server: Option<actix_web::dev::Server>,
    /// The node's background loops (recovery, sweeps, compaction, what it
    /// follows in the index), stopped at the end of [`Node::shutdown`]
    /// while the runtime still runs: dropped with the runtime instead, a
    /// loop waiting on the index would drop its database connection
    /// outside it (a panic at every exit, a Sentry event).
    background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Node {
    /// Starts serving, and recovers the spool an earlier run left in the
    /// background. Must run inside an actix system (`actix_web::rt::System`).
    pub async fn start(config: Config) -> anyhow::Result<Node> {
        let config = Arc::new(config);
        // Install the recorder before anything records.
        crate::telemetry::prometheus();
        crate::telemetry::describe_metrics();
        metrics::gauge!(metric_names::OPEN_CONNECTIONS).set(0.0);
        metrics::gauge!(metric_names::LIVE_SESSIONS).set(0.0);
        metrics::gauge!(metric_names::MAINTENANCE).set(0.0);
        let node_id = config.node_id.clone().unwrap_or_else(new_node_id);
        crate::telemetry::set_node(&node_id);
        let sql = open_index(&config).await?;
        if config.migrate_on_start {
            sql.migrate().await.context("migrating the index")?;
        }
        let demo_site_key = if config.demo {
            Some(
                sql.ensure_site(crate::index::DEFAULT_ORG, DEMO_SITE)
                    .await?
                    .1,
            )
        } else {
            None
        };
        let (index, accounts, compaction, flag_store) = sql.into_all_parts();
        // Timed, so that a request knows what it spent in them (http::timing).
        // The flag store is read by the flags' poll only, never by a request.
        let (index, accounts, compaction): (Arc<dyn Index>, _, _) =
            crate::timed::index_parts((index, accounts, compaction));
        // The dummy hash of unknown emails, built off the runtime's threads.
        tokio::task::spawn_blocking(crate::accounts::password::warm_up);
        let blob = crate::timed::blob_store(open_blob_store(&config).await?);

        // Everything acked before a crash reaches storage: the outbox
        // writes an earlier run left (in order), then its batches.
        let spool_dir = config.spool_dir();
        let (spool, recovered) = FileSpool::open(
            &spool_dir,
            SpoolOptions {
                file_bytes: config.spool.file_bytes,
                min_free_bytes: config.spool.min_free_bytes,
            },
        )
        .context("opening the spool")?;
        let spool = Arc::new(spool);
        let dead_letters = Arc::new(
            DirDeadLetters::open(&config.dead_letters_dir(), config.dead_letters.max_bytes)
                .context("opening the dead letters")?,
        );
        let outbox = Outbox::start(blob.clone(), index.clone(), spool.clone(), dead_letters);
        // What an earlier run left in the spool is brought to storage in
        // the background once the node listens (see `recover_in_background`);
        // tabs it holds batches of continue past them meanwhile.
        let recovery = Arc::new(Progress::default());
        if !recovered.files.is_empty() {
            recovery.begin(&recovered.batches);
        }

        let (bus, presence): (Arc<dyn Bus>, Arc<dyn PresenceStore>) = match &config.redis_url {
            Some(url) => (
                Arc::new(
                    RedisBus::connect(url.expose(), &node_id)
                        .await
                        .context("connecting to Redis (bus)")?,
                ),
                Arc::new(
                    RedisPresence::connect(url.expose())
                        .await
                        .context("connecting to Redis (presence)")?,
                ),
            ),
            None => {
                // The in-process bus cannot be down.
                metrics::gauge!(metric_names::BUS_UP).set(1.0);
                (
                    Arc::new(InProcessBus::default()),
                    Arc::new(InMemoryPresence::default()),
                )
            }
        };
        let sessions = Sessions::new(
            outbox.clone(),
            index.clone(),
            bus,
            presence,
            spool.clone(),
            recovery.clone(),
            SessionsConfig {
                limits: config.limits.clone(),
                segment_max_bytes: config.segments.max_bytes,
                segment_max_age: Duration::from_millis(config.segments.max_age_ms),
                max_buffered_bytes: config.segments.max_buffered_bytes,
                sweep_interval: config.sweep_interval(),
                node_id: node_id.clone(),
                live_dir: Some(config.live_dir()),
            },
        );
        // Tails of sessions that ended elsewhere (a failover) or while the
        // node was down go; a restored session's tail stays.
        let (live_dir, stale) = (
            config.live_dir(),
            Duration::from_millis(config.limits.inactivity_timeout_ms),
        );
        tokio::task::spawn_blocking(move || {
            let removed = reel_actors::live_tail::sweep(&live_dir, stale);
            if removed > 0 {
                tracing::info!(removed, "stale live tails removed");
            }
        });
        sessions.serve_watches();
        sessions.serve_deletes();
        // The operator's switch as it is now, so that a node starting during
        // maintenance never accepts; unreadable: off until the watcher
        // reads it (or on, when the config holds this node in maintenance).
        let switch =
            match tokio::time::timeout(crate::maintenance::READ_TIMEOUT, index.maintenance()).await
            {
                Ok(Ok(switch)) => switch,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "maintenance switch unreadable at start");
                    Default::default()
                }
                Err(_) => {
                    tracing::warn!("maintenance switch unreadable at start: no answer in time");
                    Default::default()
                }
            };
        // The flag rules as they are now, so that the first trackers are
        // told them; unreadable: defaults until the follower reads them.
        let flags = watch::Sender::new(Arc::new(crate::flags::at_start(flag_store.as_ref()).await));
        let admission = Admission::new(&config.ingest, sessions.memory().clone());
        let lifecycle = reel_actors::lifecycle::Lifecycle {
            index: index.clone(),
            blob: blob.clone(),
            bus: sessions.bus().clone(),
            node_id: node_id.clone(),
        };
        let state = web::Data::new(AppState {
            config: config.clone(),
            index: index.clone(),
            blob,
            outbox,
            spool: spool.clone(),
            disk_full: spool.disk_full_watch(),
            sites: Default::default(),
            sessions,
            phase: watch::channel(Phase::Running).0,
            maintenance_message: Default::default(),
            conns: ConnCounts::default(),
            admission,
            node_id,
            web: WebAssets::load(&config.web, demo_site_key),
            accounts,
            login_limiter: LoginLimiter::new(
                config.accounts.login_max_failures,
                Duration::from_millis(config.accounts.login_window_ms),
            ),
            lifecycle,
            lifecycle_wake: Default::default(),
            compaction: compaction.clone(),
            flags,
            flag_store,
        });

        crate::maintenance::apply(&state, &switch);

        let listener = TcpListener::bind(&config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let admin = match &config.admin_listen {
            Some(admin_listen) => Some(start_admin(admin_listen, &state)?),
            None => None,
        };
        let split = admin.is_some();
        let app_state = state.clone();
        let dashboard_dir = config.web.dashboard_dir.clone();
        // Without a build (already a WARN at start) `/app/` answers 404:
        // `Files` on a missing directory would log an ERROR per worker,
        // each a Sentry event with no fault behind it.
        let has_dashboard = dashboard_dir.is_dir();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(http::failures::report))
                .wrap(from_fn(http::headers::security_headers))
                .wrap(from_fn(http::route_metrics))
                .wrap(from_fn(http::timing::profile))
                .configure(|cfg| http::routes(cfg, split))
                .configure(|cfg| {
                    if has_dashboard {
                        cfg.service(
                            web::scope("/app")
                                .wrap(from_fn(http::web::cache_headers))
                                .service(
                                    actix_files::Files::new("", &dashboard_dir)
                                        .index_file("index.html"),
                                ),
                        );
                    }
                })
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

        let mut background = Vec::new();
        background.push(actix_web::rt::spawn(recover_in_background(
            state.clone(),
            recovered,
            spool_dir,
            recovery,
        )));
        let sweep_state = state.clone();
        background.push(actix_web::rt::spawn(async move {
            let mut every = tokio::time::interval(ORPHAN_SWEEP_INTERVAL);
            every.tick().await;
            loop {
                every.tick().await;
                let live = sweep_state.sessions.live_ids();
                end_orphans(&sweep_state.index, &sweep_state.config, &live).await;
            }
        }));
        background.push(actix_web::rt::spawn(
            state.lifecycle.clone().run(state.lifecycle_wake.clone()),
        ));
        if config.compaction.enabled {
            let pool = crate::idle_pool::IdlePool::start(config.compaction.threads)
                .context("starting the compaction threads")?;
            let live_of = state.clone();
            let compactor = Arc::new(
                reel_actors::compactor::Compactor::new(
                    state.index.clone(),
                    compaction,
                    state.blob.clone(),
                    Arc::new(pool),
                    config.compaction.compactor(),
                    state.node_id.clone(),
                    Arc::new(move || live_of.sessions.live_ids()),
                )
                .with_flags(reel_actors::compactor::FlagGate {
                    rules: state.flags.subscribe(),
                    store: state.flag_store.clone(),
                }),
            );
            background.push(actix_web::rt::spawn(compactor.run()));
        }
        background.push(actix_web::rt::spawn(watch_spool(state.clone())));
        background.push(actix_web::rt::spawn(watch_disk(spool)));
        background.push(actix_web::rt::spawn(watch_ready(state.clone())));
        background.push(actix_web::rt::spawn(crate::maintenance::follow(
            state.clone(),
        )));
        background.push(actix_web::rt::spawn(crate::site_follow::follow(
            state.clone(),
        )));
        background.push(actix_web::rt::spawn(crate::flags::follow(state.clone())));
        let (admin_addr, admin_handle) = admin.unzip();
        tracing::info!(%addr, admin_addr = ?admin_addr, node = %state.node_id, "reel listening");
        Ok(Node {
            addr,
            admin_addr,
            state,
            handle,
            admin_handle,
            server: Some(server),
            background: std::sync::Mutex::new(background),
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
        // Last: probes see 503 from /readyz until the node is gone.
        if let Some(admin) = &self.admin_handle {
            admin.stop(true).await;
        }
        let background = self
            .background
            .lock()
            .map(|mut tasks| std::mem::take(&mut *tasks))
            .unwrap_or_default();
        for task in &background {
            task.abort();
        }
        for task in background {
            let _ = task.await;
        }
        tracing::info!("stopped");
    }
}

/// Worker threads of the admin listener: probes and scrapes are few.
const ADMIN_WORKERS: usize = 1;

/// Binds `listen` and serves the health and metrics routes there alone, on
/// their own task, with the node's state; its address and handle.
fn start_admin(
    listen: &str,
    state: &web::Data<AppState>,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let listener =
        TcpListener::bind(listen).with_context(|| format!("binding {listen} (admin_listen)"))?;
    let addr = listener.local_addr()?;
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(from_fn(http::route_metrics))
            .configure(http::admin_routes)
    })
    .disable_signals()
    .workers(ADMIN_WORKERS)
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok((addr, handle))
}

/// Brings what an earlier run left in the spool to storage while the node
/// already serves, then ends the sessions no node holds any more. A node
/// whose storage is down keeps draining (with backoff) and records
/// meanwhile; a drain that fails (this run's spool cannot write) leaves
/// the earlier run's files for the next start.
async fn recover_in_background(
    state: web::Data<AppState>,
    recovered: spool::Recovered,
    dir: std::path::PathBuf,
    progress: Arc<Progress>,
) {
    if progress.state() == DrainState::Draining {
        tracing::info!(
            batches = recovered.batches.len(),
            outbox_writes = recovered.ops.len(),
            "draining the earlier run's spool in the background"
        );
    }
    let dead_dir = state.config.dead_letters_dir();
    let dead = if progress.state() == DrainState::Draining {
        tokio::task::spawn_blocking(move || crate::dead_letters::held(&dead_dir))
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if let Err(e) = spool::recover(
        recovered,
        &dir,
        spool::Destination {
            outbox: &state.outbox,
            index: state.index.clone(),
            segment_max_bytes: state.config.segments.max_bytes,
            node_id: &state.node_id,
        },
        &dead,
        &progress,
    )
    .await
    {
        tracing::error!(
            error = format!("{e:#}"),
            "draining the earlier run's spool failed; its files stay for the next start"
        );
    }
    let live = state.sessions.live_ids();
    end_orphans(&state.index, &state.config, &live).await;
}

/// How often the node measures the free space of its spool's disk.
pub const DISK_WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Measures the spool disk's free space: below `spool.min_free_bytes` the
/// disk counts as full (new connections refused, open trackers told to
/// hold their data), at or above it the node admits again.
async fn watch_disk(spool: Arc<FileSpool>) {
    let mut every = tokio::time::interval(DISK_WATCH_INTERVAL);
    loop {
        every.tick().await;
        spool.check_free_space();
    }
}

/// How often the node runs its readiness check for `reel_ready`, whether
/// or not anyone asks `/readyz`.
pub const READY_WATCH_INTERVAL: Duration = Duration::from_secs(10);

/// Runs the `/readyz` check every [`READY_WATCH_INTERVAL`]: the check sets
/// `reel_ready`, which the node-not-ready alert reads.
async fn watch_ready(state: web::Data<AppState>) {
    let mut every = tokio::time::interval(READY_WATCH_INTERVAL);
    loop {
        every.tick().await;
        http::readyz(state.clone()).await;
    }
}

/// How often the node checks its spool's fill.
pub const SPOOL_WATCH_INTERVAL: Duration = Duration::from_secs(5);
/// While the spool stays above its warning level, the ERROR repeats this often.
pub const SPOOL_WARN_REPEAT: Duration = Duration::from_secs(300);

/// Watches the spool's fill: a gauge always, and an ERROR (a Sentry event)
/// when it passes `spool.warn_ratio` of its bound, long before the bound
/// refuses new connections.
async fn watch_spool(state: web::Data<AppState>) {
    let max = state.config.spool.max_bytes as f64;
    let warn_at = max * state.config.spool.warn_ratio;
    let mut last_warned: Option<std::time::Instant> = None;
    let mut every = tokio::time::interval(SPOOL_WATCH_INTERVAL);
    loop {
        every.tick().await;
        let bytes = state.spool.bytes() as f64;
        metrics::gauge!(metric_names::SPOOL_FILL_RATIO).set(bytes / max);
        if bytes >= warn_at {
            if last_warned.is_none_or(|t| t.elapsed() >= SPOOL_WARN_REPEAT) {
                last_warned = Some(std::time::Instant::now());
                tracing::error!(
                    spool_bytes = bytes as u64,
                    max_bytes = max as u64,
                    outbox_queued = state.outbox.queued(),
                    "spool is filling up while storage is unreachable; new connections are refused at the bound"
                );
            }
        } else if last_warned.take().is_some() {
            tracing::info!(
                spool_bytes = bytes as u64,
                "spool back below its warning level"
            );
        }
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
