//! One typed configuration, layered: defaults, then `reel.toml`, then
//! `REEL_*` environment variables. Every variable's name is declared once,
//! in [`ENV_VARS`]; nothing else reads the environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use reel_actors::sessions::SessionsConfig;
use reel_protocol::Limits;
use serde::{Deserialize, Serialize};

use crate::http::client_addr::TrustedProxies;
use crate::secrets::Secret;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info` or `reel=debug,info`.
    pub level: String,
    /// An HTTP request that takes at least this long (ms, to the end of
    /// its body) is logged as a WARN `slow request` line with where its
    /// time went (`crate::http::timing`); 0 turns the log off.
    pub slow_request_ms: u64,
}

/// The default of `log.slow_request_ms`.
pub const DEFAULT_SLOW_REQUEST_MS: u64 = 500;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            level: "info".into(),
            slow_request_ms: DEFAULT_SLOW_REQUEST_MS,
        }
    }
}

/// OpenTelemetry trace export (`crate::otlp`): off unless an endpoint is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's OTLP/HTTP base URL (`http://127.0.0.1:4318`);
    /// spans go to `<endpoint>/v1/traces`.
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentryConfig {
    pub dsn: Option<Secret>,
    /// A file holding the DSN (read once at start).
    pub dsn_file: Option<PathBuf>,
    pub environment: Option<String>,
    /// Attach the signed-in person's user id to events (never an email or
    /// an address). Off by default: events carry no user ids.
    pub send_user_ids: bool,
}

/// S3 settings: setting `bucket` stores recordings in S3 instead of the
/// local blob directory. Credentials are `access_key_id` and
/// `secret_access_key` when both are set, else the standard AWS chain
/// (`AWS_*` variables, profile files, web identity, instance metadata).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: Option<String>,
    /// A static access key (with `secret_access_key`).
    pub access_key_id: Option<Secret>,
    /// A file holding `access_key_id` (read once at start).
    pub access_key_id_file: Option<PathBuf>,
    pub secret_access_key: Option<Secret>,
    /// A file holding `secret_access_key` (read once at start).
    pub secret_access_key_file: Option<PathBuf>,
    /// An S3-compatible endpoint (MinIO, moto, R2...); default AWS.
    pub endpoint: Option<String>,
    /// Default `us-east-1`.
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`); default on when an
    /// endpoint is set.
    pub path_style: Option<bool>,
    /// Objects at least this large are uploaded in parts.
    pub multipart_threshold: u64,
    /// Size of each part of a multipart upload (at least 5 MiB).
    pub part_size: u64,
    /// When set, the API offers presigned segment URLs valid this long (s),
    /// so a dashboard or CDN can fetch segments straight from S3.
    pub presign_ttl_s: Option<u64>,
    /// Create the bucket at start when it is missing.
    pub create_bucket: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            bucket: None,
            access_key_id: None,
            access_key_id_file: None,
            secret_access_key: None,
            secret_access_key_file: None,
            endpoint: None,
            region: None,
            path_style: None,
            multipart_threshold: 8 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            presign_ttl_s: None,
            create_bucket: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentConfig {
    /// A tab's buffer becomes a segment at this many raw bytes.
    pub max_bytes: u64,
    /// ... or when its oldest batch is this old (ms).
    pub max_age_ms: u64,
    /// The node's bound on bytes in segment buffers and in segments
    /// waiting for compression: above three quarters of it large buffers
    /// become segments early; at it, ingest stops reading its sockets and
    /// new connections get 503 (`reel_actors::memory`).
    pub max_buffered_bytes: u64,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        let d = SessionsConfig::default();
        SegmentConfig {
            max_bytes: d.segment_max_bytes,
            max_age_ms: d.segment_max_age.as_millis() as u64,
            max_buffered_bytes: d.max_buffered_bytes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool starts a new file after this many bytes.
    pub file_bytes: u64,
    /// The spool's bound on disk: batches not yet in a segment plus the
    /// outbox (segments and index writes waiting for S3 or the index). At
    /// the bound, new ingest connections get 503 `unavailable`.
    pub max_bytes: u64,
    /// Above this share of `max_bytes` the node logs an ERROR (Sentry) and
    /// `/readyz` says so, well before anything is refused.
    pub warn_ratio: f64,
    /// Free space on the spool's filesystem below which its disk counts as
    /// full: new ingest connections get 503 `unavailable` and open trackers
    /// are asked to hold their data (`goaway`) until there is space again.
    pub min_free_bytes: u64,
    /// Where the spool lives (default: `spool/` in the data directory).
    /// Put it on a disk of its own to keep the index and blobs from
    /// filling it.
    pub dir: Option<PathBuf>,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            file_bytes: 64 * 1024 * 1024,
            max_bytes: 8 * 1024 * 1024 * 1024,
            warn_ratio: 0.5,
            min_free_bytes: 64 * 1024 * 1024,
            dir: None,
        }
    }
}

/// Where writes storage refused for their content are kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// The area's bound on disk; past it a refused write is logged as an
    /// ERROR and counted, but not kept.
    pub max_bytes: u64,
    /// Where (default: `dead-letters/` in the data directory).
    pub dir: Option<PathBuf>,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            max_bytes: 1024 * 1024 * 1024,
            dir: None,
        }
    }
}

/// Backpressure and admission on the ingest path (PROTOCOL.md §1: a batch
/// is acked within [`reel_protocol::limits::MAX_ACK_DELAY_MS`] at any load
/// the node accepts).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Node-wide budget of batch bytes read off sockets and not yet durable
    /// (decoded size). A connection whose next batch does not fit waits,
    /// not reading its socket, so TCP pushes back on the tracker; a batch
    /// larger than the budget takes all of it. Size it so that the budget
    /// drains well within the ack bound at the node's throughput.
    pub max_inflight_bytes: u64,
    /// New connections are refused (503 `unavailable`, `Retry-After`) while
    /// the recent ack delay passes this share of the 5 s bound, or while
    /// the in-flight budget has had batches waiting for that long.
    pub admission_ack_delay_ratio: f64,
    /// The window over which the recent ack delay is taken (ms).
    pub admission_window_ms: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_inflight_bytes: 16 * 1024 * 1024,
            admission_ack_delay_ratio: 0.5,
            admission_window_ms: 2_000,
        }
    }
}

impl IngestConfig {
    /// The ack delay above which new connections are refused.
    pub fn admission_ack_delay(&self) -> Duration {
        Duration::from_millis(reel_protocol::limits::MAX_ACK_DELAY_MS)
            .mul_f64(self.admission_ack_delay_ratio)
    }

    pub fn admission_window(&self) -> Duration {
        Duration::from_millis(self.admission_window_ms.max(1))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// SIGTERM to exit, at most (ms).
    pub deadline_ms: u64,
    /// `goaway.retry_after_ms` sent to trackers.
    pub goaway_retry_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            deadline_ms: 20_000,
            goaway_retry_ms: 1_000,
        }
    }
}

/// Where the node finds the front end it serves.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// The tracker bundle, served at `/t/tracker.<hash>.js`.
    pub tracker_bundle: PathBuf,
    /// The built dashboard, served at `/app/`.
    pub dashboard_dir: PathBuf,
    /// The demo shop's pages, served at `/demo/` (with `--demo`).
    pub demo_dir: PathBuf,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            tracker_bundle: PathBuf::from("tracker/dist/tracker.js"),
            dashboard_dir: PathBuf::from("dashboard/dist"),
            demo_dir: PathBuf::from("tracker/demo"),
        }
    }
}

/// Accounts and access (PROTOCOL.md §5): sign-in sessions, the sign-in
/// rate limit, invitations, and the dashboard's public origin. The
/// defaults are the protocol's ([`reel_protocol::accounts`]).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// A sign-in ends after this long without a request (ms).
    pub session_idle_ms: u64,
    /// ... and this long after it began (ms).
    pub session_absolute_ms: u64,
    /// An invitation can be accepted for this long (ms).
    pub invitation_ttl_ms: u64,
    /// More failed sign-ins than this for one email or from one address
    /// within `login_window_ms` get 429 `rate_limited`.
    pub login_max_failures: u32,
    pub login_window_ms: u64,
    /// The dashboard's origins as browsers see them (`https://reel.example`),
    /// behind a proxy that changes the host: invitation links use the
    /// first, and `/v1/live` opened with the sign-in cookie accepts an
    /// `Origin` of any (besides the request's own scheme and host).
    pub public_origins: Vec<String>,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        use reel_protocol::accounts as a;
        const DAY_MS: u64 = crate::accounts::DAY_MS as u64;
        AccountsConfig {
            session_idle_ms: u64::from(a::SESSION_IDLE_DAYS) * DAY_MS,
            session_absolute_ms: u64::from(a::SESSION_ABSOLUTE_DAYS) * DAY_MS,
            invitation_ttl_ms: u64::from(a::INVITATION_TTL_DAYS) * DAY_MS,
            login_max_failures: a::LOGIN_MAX_FAILURES,
            login_window_ms: u64::from(a::LOGIN_WINDOW_MINUTES) * 60 * 1000,
            public_origins: Vec::new(),
        }
    }
}

/// The node's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// A second address serving only `/healthz`, `/readyz` and `/metrics`
    /// (e.g. `127.0.0.1:9091`), for probes and Prometheus; when set, the
    /// main address answers 404 to `/readyz` and `/metrics` (it keeps
    /// `/healthz`). Default: unset, all three on the main address.
    pub admin_listen: Option<String>,
    /// Proxies (CIDRs, IPv4 and IPv6) whose `Forwarded` or
    /// `X-Forwarded-For` header gives the client address of a request
    /// ([`crate::http::client_addr`]). Default: none, the client is the
    /// TCP peer.
    pub trusted_proxies: TrustedProxies,
    /// Holds the SQLite index, the local blob directory and the spool.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default a SQLite file in `data_dir`.
    pub database_url: Option<Secret>,
    /// A file holding `database_url` (read once at start).
    pub database_url_file: Option<PathBuf>,
    /// Selects the Redis bus and presence (`redis://...`); default the
    /// in-process bus of one node.
    pub redis_url: Option<Secret>,
    /// A file holding `redis_url` (read once at start).
    pub redis_url_file: Option<PathBuf>,
    pub s3: S3Config,
    /// This node's id; default random.
    pub node_id: Option<String>,
    /// HTTP worker threads; default one per core.
    pub workers: Option<usize>,
    /// Hold this node in maintenance whatever the index's switch says
    /// (`reel maintenance off` does not lift it; a restart without it does).
    /// Refuses new recordings (503 `unavailable`) and closes open ones.
    pub maintenance: bool,
    /// How often sessions check their timeouts (ms).
    pub sweep_interval_ms: u64,
    /// Serve the demo shop at `/demo/` with a demo site, and print a token.
    pub demo: bool,
    /// Apply pending index migrations when the node starts. Turn off to
    /// migrate with `reel migrate` as a separate deploy step.
    pub migrate_on_start: bool,
    pub web: WebConfig,
    pub log: LogConfig,
    pub sentry: SentryConfig,
    pub otlp: OtlpConfig,
    pub limits: Limits,
    pub ingest: IngestConfig,
    pub segments: SegmentConfig,
    pub spool: SpoolConfig,
    pub dead_letters: DeadLetterConfig,
    pub shutdown: ShutdownConfig,
    pub accounts: AccountsConfig,
    pub compaction: CompactionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            admin_listen: None,
            trusted_proxies: TrustedProxies::default(),
            data_dir: PathBuf::from("./reel-data"),
            database_url: None,
            database_url_file: None,
            redis_url: None,
            redis_url_file: None,
            s3: S3Config::default(),
            node_id: None,
            workers: None,
            maintenance: false,
            sweep_interval_ms: 5_000,
            demo: false,
            migrate_on_start: true,
            web: WebConfig::default(),
            log: LogConfig::default(),
            sentry: SentryConfig::default(),
            otlp: OtlpConfig::default(),
            limits: Limits::default(),
            ingest: IngestConfig::default(),
            segments: SegmentConfig::default(),
            spool: SpoolConfig::default(),
            dead_letters: DeadLetterConfig::default(),
            shutdown: ShutdownConfig::default(),
            accounts: AccountsConfig::default(),
            compaction: CompactionConfig::default(),
        }
    }
}

/// Cold compaction (docs/storage.md, "Cold compaction"); the defaults are
/// `reel_actors::compactor::CompactorConfig`'s.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionConfig {
    /// Compact ended and quiet sessions on this node.
    pub enabled: bool,
    /// A session that has not ended is compacted after this long without
    /// activity (ms).
    pub quiet_ms: u64,
    /// An ended session is compacted this long after its end (ms).
    pub after_end_ms: u64,
    /// Sessions compacted at once.
    pub max_sessions: usize,
    /// Threads of the idle pool (`SCHED_IDLE`) that compress.
    pub threads: usize,
    /// How often the compactor looks for sessions (ms).
    pub poll_ms: u64,
    /// Replaced segments are deleted this long after their swap (ms), so
    /// that replays that listed them still read them.
    pub reader_grace_ms: u64,
    /// zstd level of compacted objects.
    pub level: i32,
    /// Tests of crash safety only: `after_put` or `after_swap` stops every
    /// tab's compaction after that step.
    pub fail_at: Option<String>,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        let d = reel_actors::compactor::CompactorConfig::default();
        CompactionConfig {
            enabled: d.enabled,
            quiet_ms: d.quiet.as_millis() as u64,
            after_end_ms: d.after_end.as_millis() as u64,
            max_sessions: d.max_sessions,
            threads: 1,
            poll_ms: d.poll.as_millis() as u64,
            reader_grace_ms: d.reader_grace.as_millis() as u64,
            level: d.level,
            fail_at: None,
        }
    }
}

impl CompactionConfig {
    /// The compactor's settings.
    pub fn compactor(&self) -> reel_actors::compactor::CompactorConfig {
        reel_actors::compactor::CompactorConfig {
            enabled: self.enabled,
            quiet: Duration::from_millis(self.quiet_ms),
            after_end: Duration::from_millis(self.after_end_ms),
            max_sessions: self.max_sessions,
            poll: Duration::from_millis(self.poll_ms),
            reader_grace: Duration::from_millis(self.reader_grace_ms),
            level: self.level,
            fail_at: self
                .fail_at
                .as_deref()
                .and_then(reel_actors::compactor::FailAt::parse),
        }
    }
}

/// A boolean variable: `1`, `true`, `yes` or `on` is true.
fn flag(v: &str) -> bool {
    matches!(v, "1" | "true" | "yes" | "on")
}

type Setter = fn(&mut Config, String) -> anyhow::Result<()>;

/// Where a secret lives in the config: its value, and the file that may
/// hold it instead.
type SecretSlot = fn(&mut Config) -> (&mut Option<Secret>, &mut Option<PathBuf>);

/// What an environment variable sets.
pub enum Var {
    /// A plain setting.
    Plain(Setter),
    /// A secret: read from the variable itself or from the file that the
    /// variable `<NAME>_FILE` names (as container platforms mount secrets),
    /// never both. `key` is its name in `reel.toml`, where `<key>_file`
    /// names a file the same way.
    Secret { key: &'static str, slot: SecretSlot },
}

/// The suffix of the variable (and `reel.toml` key) naming a secret's file.
pub const FILE_SUFFIX: &str = "_FILE";

/// Every environment variable reel reads, with what it sets. A secret's
/// `<NAME>_FILE` form is implied by its entry.
pub const ENV_VARS: &[(&str, Var)] = &[
    (
        "REEL_LISTEN",
        Var::Plain(|c, v| {
            c.listen = v;
            Ok(())
        }),
    ),
    (
        "REEL_ADMIN_LISTEN",
        Var::Plain(|c, v| {
            c.admin_listen = Some(v).filter(|v| !v.trim().is_empty());
            Ok(())
        }),
    ),
    (
        "REEL_TRUSTED_PROXIES",
        Var::Plain(|c, v| {
            c.trusted_proxies = TrustedProxies::parse_list(&v)?;
            Ok(())
        }),
    ),
    (
        "REEL_DATA_DIR",
        Var::Plain(|c, v| {
            c.data_dir = v.into();
            Ok(())
        }),
    ),
    (
        "REEL_DATABASE_URL",
        Var::Secret {
            key: "database_url",
            slot: |c| (&mut c.database_url, &mut c.database_url_file),
        },
    ),
    (
        "REEL_REDIS_URL",
        Var::Secret {
            key: "redis_url",
            slot: |c| (&mut c.redis_url, &mut c.redis_url_file),
        },
    ),
    (
        "REEL_S3_BUCKET",
        Var::Plain(|c, v| {
            c.s3.bucket = Some(v);
            Ok(())
        }),
    ),
    (
        "REEL_S3_ACCESS_KEY_ID",
        Var::Secret {
            key: "s3.access_key_id",
            slot: |c| (&mut c.s3.access_key_id, &mut c.s3.access_key_id_file),
        },
    ),
    (
        "REEL_S3_SECRET_ACCESS_KEY",
        Var::Secret {
            key: "s3.secret_access_key",
            slot: |c| {
                (
                    &mut c.s3.secret_access_key,
                    &mut c.s3.secret_access_key_file,
                )
            },
        },
    ),
    (
        "REEL_S3_ENDPOINT",
        Var::Plain(|c, v| {
            c.s3.endpoint = Some(v);
            Ok(())
        }),
    ),
    (
        "REEL_S3_REGION",
        Var::Plain(|c, v| {
            c.s3.region = Some(v);
            Ok(())
        }),
    ),
    (
        "REEL_S3_PATH_STYLE",
        Var::Plain(|c, v| {
            c.s3.path_style = Some(flag(&v));
            Ok(())
        }),
    ),
    (
        "REEL_S3_PRESIGN_TTL_S",
        Var::Plain(|c, v| {
            c.s3.presign_ttl_s = Some(v.parse().context("REEL_S3_PRESIGN_TTL_S must be seconds")?);
            Ok(())
        }),
    ),
    (
        "REEL_S3_CREATE_BUCKET",
        Var::Plain(|c, v| {
            c.s3.create_bucket = flag(&v);
            Ok(())
        }),
    ),
    (
        "REEL_SPOOL_MAX_BYTES",
        Var::Plain(|c, v| {
            c.spool.max_bytes = v
                .parse()
                .context("REEL_SPOOL_MAX_BYTES must be a number of bytes")?;
            Ok(())
        }),
    ),
    (
        "REEL_INGEST_MAX_INFLIGHT_BYTES",
        Var::Plain(|c, v| {
            c.ingest.max_inflight_bytes = v
                .parse()
                .context("REEL_INGEST_MAX_INFLIGHT_BYTES must be a number of bytes")?;
            Ok(())
        }),
    ),
    (
        "REEL_SEGMENTS_MAX_BUFFERED_BYTES",
        Var::Plain(|c, v| {
            c.segments.max_buffered_bytes = v
                .parse()
                .context("REEL_SEGMENTS_MAX_BUFFERED_BYTES must be a number of bytes")?;
            Ok(())
        }),
    ),
    (
        "REEL_INGEST_ADMISSION_ACK_DELAY_RATIO",
        Var::Plain(|c, v| {
            c.ingest.admission_ack_delay_ratio = v
                .parse()
                .context("REEL_INGEST_ADMISSION_ACK_DELAY_RATIO must be a number")?;
            Ok(())
        }),
    ),
    (
        "REEL_SPOOL_DIR",
        Var::Plain(|c, v| {
            c.spool.dir = Some(PathBuf::from(v));
            Ok(())
        }),
    ),
    (
        "REEL_SPOOL_MIN_FREE_BYTES",
        Var::Plain(|c, v| {
            c.spool.min_free_bytes = v
                .parse()
                .context("REEL_SPOOL_MIN_FREE_BYTES must be a number of bytes")?;
            Ok(())
        }),
    ),
    (
        "REEL_DEAD_LETTERS_MAX_BYTES",
        Var::Plain(|c, v| {
            c.dead_letters.max_bytes = v
                .parse()
                .context("REEL_DEAD_LETTERS_MAX_BYTES must be a number of bytes")?;
            Ok(())
        }),
    ),
    (
        "REEL_DEAD_LETTERS_DIR",
        Var::Plain(|c, v| {
            c.dead_letters.dir = Some(PathBuf::from(v));
            Ok(())
        }),
    ),
    (
        "REEL_COMPACTION_ENABLED",
        Var::Plain(|c, v| {
            c.compaction.enabled = flag(&v);
            Ok(())
        }),
    ),
    (
        "REEL_COMPACTION_QUIET_MS",
        Var::Plain(|c, v| {
            c.compaction.quiet_ms = v
                .parse()
                .context("REEL_COMPACTION_QUIET_MS must be milliseconds")?;
            Ok(())
        }),
    ),
    (
        "REEL_MIGRATE_ON_START",
        Var::Plain(|c, v| {
            c.migrate_on_start = flag(&v);
            Ok(())
        }),
    ),
    (
        "REEL_SENTRY_DSN",
        Var::Secret {
            key: "sentry.dsn",
            slot: |c| (&mut c.sentry.dsn, &mut c.sentry.dsn_file),
        },
    ),
    (
        "REEL_SENTRY_SEND_USER_IDS",
        Var::Plain(|c, v| {
            c.sentry.send_user_ids = flag(&v);
            Ok(())
        }),
    ),
    (
        "REEL_NODE_ID",
        Var::Plain(|c, v| {
            c.node_id = Some(v);
            Ok(())
        }),
    ),
    (
        "REEL_LOG",
        Var::Plain(|c, v| {
            c.log.level = v;
            Ok(())
        }),
    ),
    (
        "REEL_LOG_FORMAT",
        Var::Plain(|c, v| {
            c.log.format = match v.as_str() {
                "auto" => LogFormat::Auto,
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => bail!("REEL_LOG_FORMAT must be auto, pretty or json, not {other:?}"),
            };
            Ok(())
        }),
    ),
    (
        "REEL_SLOW_REQUEST_MS",
        Var::Plain(|c, v| {
            c.log.slow_request_ms = v
                .parse()
                .context("REEL_SLOW_REQUEST_MS must be milliseconds (0: off)")?;
            Ok(())
        }),
    ),
    (
        "REEL_OTLP_ENDPOINT",
        Var::Plain(|c, v| {
            c.otlp.endpoint = Some(v).filter(|v| !v.is_empty());
            Ok(())
        }),
    ),
    (
        "REEL_WORKERS",
        Var::Plain(|c, v| {
            c.workers = Some(v.parse().context("REEL_WORKERS must be a number")?);
            Ok(())
        }),
    ),
    (
        "REEL_DEMO",
        Var::Plain(|c, v| {
            c.demo = flag(&v);
            Ok(())
        }),
    ),
    (
        "REEL_PUBLIC_ORIGINS",
        Var::Plain(|c, v| {
            c.accounts.public_origins = v
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect();
            Ok(())
        }),
    ),
    (
        "REEL_LOGIN_WINDOW_MS",
        Var::Plain(|c, v| {
            c.accounts.login_window_ms = v
                .parse()
                .context("REEL_LOGIN_WINDOW_MS must be milliseconds")?;
            Ok(())
        }),
    ),
    (
        "REEL_MAINTENANCE",
        Var::Plain(|c, v| {
            c.maintenance = flag(&v);
            Ok(())
        }),
    ),
];

/// Reads the secret in the file at `path`, named by `setting` (a variable
/// or config key), once: its text without the trailing newline. Errors name
/// the setting and the path, never what the file holds.
fn read_secret_file(setting: &str, path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{setting}: cannot read the secret file {}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        bail!("{setting}: the secret file {} is empty", path.display());
    }
    Ok(value.to_owned())
}

/// Every environment variable name reel reads, `_FILE` forms included.
pub fn env_var_names() -> Vec<String> {
    let mut names = vec![CONFIG_FILE_VAR.to_owned()];
    for (name, var) in ENV_VARS {
        names.push((*name).to_owned());
        if let Var::Secret { .. } = var {
            names.push(format!("{name}{FILE_SUFFIX}"));
        }
    }
    names
}

/// The variable naming a config file, read when `--config` is not given.
pub const CONFIG_FILE_VAR: &str = "REEL_CONFIG";

impl Config {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        Config::load_from(file, |name| std::env::var(name).ok())
    }

    /// [`Config::load`] with `env` as the environment.
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        let env_file = env(CONFIG_FILE_VAR).map(PathBuf::from);
        let mut config = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => Config::default(),
        };
        for (name, var) in ENV_VARS {
            match var {
                Var::Plain(set) => {
                    if let Some(value) = env(name) {
                        set(&mut config, value).with_context(|| format!("in {name}"))?;
                    }
                }
                Var::Secret { slot, .. } => {
                    let file_var = format!("{name}{FILE_SUFFIX}");
                    let value = match (env(name), env(&file_var)) {
                        (Some(_), Some(_)) => {
                            bail!("{name} and {file_var} are both set: set one of them")
                        }
                        (Some(value), None) => value,
                        (None, Some(path)) => read_secret_file(&file_var, Path::new(&path))?,
                        (None, None) => continue,
                    };
                    // The environment overrides the file's value and the
                    // file's `_file` alike.
                    let (secret, secret_file) = slot(&mut config);
                    *secret = Some(Secret::new(value));
                    *secret_file = None;
                }
            }
        }
        // What is left of `reel.toml`'s `<key>_file` settings.
        for (_, var) in ENV_VARS {
            let Var::Secret { key, slot } = var else {
                continue;
            };
            let (secret, secret_file) = slot(&mut config);
            if let Some(path) = secret_file.take() {
                let file_key = format!("{key}{}", FILE_SUFFIX.to_lowercase());
                if secret.is_some() {
                    bail!("the config file sets both {key} and {file_key}: set one of them");
                }
                *secret = Some(Secret::new(read_secret_file(&file_key, &path)?));
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Refuses settings this build cannot honour, rather than ignoring them.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.s3.part_size < 5 * 1024 * 1024 {
            bail!("s3.part_size must be at least 5 MiB (S3's minimum part)");
        }
        if self.spool.max_bytes < self.spool.file_bytes
            || !(0.0..=1.0).contains(&self.spool.warn_ratio)
        {
            bail!("spool.max_bytes must be at least spool.file_bytes, and spool.warn_ratio within 0..=1");
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose();
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                bail!("REEL_REDIS_URL must start with redis:// or rediss://");
            }
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !url.starts_with("sqlite:") && !crate::index::is_postgres(url) {
                bail!("REEL_DATABASE_URL must start with postgres://, postgresql:// or sqlite:");
            }
        }
        if self.s3.access_key_id.is_some() != self.s3.secret_access_key.is_some() {
            bail!("REEL_S3_ACCESS_KEY_ID and REEL_S3_SECRET_ACCESS_KEY go together: set both or neither");
        }
        if let Some(dsn) = &self.sentry.dsn {
            // Checked here rather than where Sentry starts, which panics
            // on a DSN it cannot parse.
            if dsn.expose().parse::<sentry::types::Dsn>().is_err() {
                bail!("REEL_SENTRY_DSN is not a valid DSN (https://PUBLIC_KEY@HOST/PROJECT_ID)");
            }
        }
        if self.ingest.max_inflight_bytes == 0
            || !(self.ingest.admission_ack_delay_ratio > 0.0
                && self.ingest.admission_ack_delay_ratio <= 1.0)
        {
            bail!("ingest.max_inflight_bytes must be above zero, and ingest.admission_ack_delay_ratio within (0, 1]");
        }
        let a = &self.accounts;
        if a.session_idle_ms == 0 || a.session_absolute_ms == 0 || a.login_window_ms == 0 {
            bail!("accounts.session_idle_ms, session_absolute_ms and login_window_ms must be above zero");
        }
        if self.segments.max_bytes == 0 || self.spool.file_bytes == 0 {
            bail!("segments.max_bytes and spool.file_bytes must be above zero");
        }
        if self.segments.max_buffered_bytes < self.segments.max_bytes {
            bail!("segments.max_buffered_bytes must be at least segments.max_bytes");
        }
        if self.admin_listen.as_deref() == Some(self.listen.as_str()) {
            bail!("admin_listen must be another address than listen");
        }
        if let Some(endpoint) = &self.otlp.endpoint {
            if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
                bail!("otlp.endpoint must start with http:// or https://");
            }
        }
        let c = &self.compaction;
        if c.max_sessions == 0 || c.threads == 0 || c.poll_ms == 0 || !(1..=22).contains(&c.level) {
            bail!("compaction.max_sessions, threads and poll_ms must be above zero, and compaction.level within 1..=22");
        }
        if let Some(f) = &c.fail_at {
            if reel_actors::compactor::FailAt::parse(f).is_none() {
                bail!("compaction.fail_at must be after_put or after_swap");
            }
        }
        Ok(())
    }

    /// The index URL: the configured one, or a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("index.db").display()),
        }
    }

    /// Every secret this config holds: those [`ENV_VARS`] declares.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut config = self.clone();
        ENV_VARS
            .iter()
            .filter_map(|(_, var)| match var {
                Var::Secret { slot, .. } => slot(&mut config).0.clone(),
                Var::Plain(_) => None,
            })
            .collect()
    }

    /// The static S3 access key, when the config holds one (else the
    /// standard AWS chain applies).
    pub fn s3_credentials(&self) -> Option<crate::s3::S3Credentials> {
        match (&self.s3.access_key_id, &self.s3.secret_access_key) {
            (Some(id), Some(key)) => Some(crate::s3::S3Credentials {
                access_key_id: id.expose().to_owned(),
                secret_access_key: key.expose().to_owned(),
            }),
            _ => None,
        }
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.spool
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("spool"))
    }

    /// The tabs' live tails (latest Meta, full snapshot and the batches
    /// after them), from which a joining live viewer starts.
    pub fn live_dir(&self) -> PathBuf {
        self.data_dir.join("live")
    }

    pub fn dead_letters_dir(&self) -> PathBuf {
        self.dead_letters
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("dead-letters"))
    }

    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The setter of a plain (not secret) variable of [`ENV_VARS`].
    fn plain(name: &str) -> Setter {
        match ENV_VARS.iter().find(|(n, _)| *n == name) {
            Some((_, Var::Plain(set))) => *set,
            _ => panic!("{name} is not a plain variable of ENV_VARS"),
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config {
            sentry: SentryConfig {
                dsn: Some(Secret::new("https://key@sentry.example/1")),
                ..SentryConfig::default()
            },
            database_url: Some(Secret::new("postgres://u:pg-pw@h/db")),
            redis_url: Some(Secret::new("redis://:redis-pw@h/")),
            s3: S3Config {
                access_key_id: Some(Secret::new("AKID-PRINTED")),
                secret_access_key: Some(Secret::new("s3-secret-printed")),
                ..S3Config::default()
            },
            ..Config::default()
        };
        let printed = format!("{c:?} {:?}", c.s3_credentials());
        for secret in [
            "key@",
            "pg-pw",
            "redis-pw",
            "AKID-PRINTED",
            "s3-secret-printed",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }

    #[test]
    fn file_sets_nested_limits() {
        let c: Config =
            toml::from_str("listen = \"0.0.0.0:9\"\n[limits]\nbatch_events = 7\n").unwrap();
        assert_eq!(c.limits.batch_events, 7);
        assert_eq!(c.limits.frame_bytes, Limits::default().frame_bytes);
        assert!(toml::from_str::<Config>("nope = 1").is_err());
    }

    #[test]
    fn storage_settings_are_checked() {
        let with = |f: fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate()
        };
        assert!(with(|c| c.database_url = Some(Secret::new("postgres://u@h/db"))).is_ok());
        assert!(with(|c| c.database_url = Some(Secret::new("postgresql://u@h/db"))).is_ok());
        let err = with(|c| c.database_url = Some(Secret::new("mysql://u:pw@h/db"))).unwrap_err();
        assert!(
            !err.to_string().contains("pw"),
            "the URL is a secret: {err}"
        );
        assert!(with(|c| c.s3.part_size = 4 * 1024 * 1024).is_err());
        assert!(with(|c| c.spool.max_bytes = c.spool.file_bytes - 1).is_err());
        assert!(with(|c| c.segments.max_buffered_bytes = c.segments.max_bytes - 1).is_err());
        assert!(with(|c| c.spool.warn_ratio = 1.5).is_err());
        assert!(with(|c| c.ingest.max_inflight_bytes = 0).is_err());
        assert!(with(|c| c.ingest.admission_ack_delay_ratio = 0.0).is_err());
        assert!(with(|c| c.accounts.login_window_ms = 0).is_err());
        assert!(with(|c| c.accounts.session_idle_ms = 0).is_err());
        assert!(with(|c| c.redis_url = Some(Secret::new("redis://h"))).is_ok());
        assert!(with(|c| c.redis_url = Some(Secret::new("h:6379"))).is_err());
    }

    /// A directory of the test's own, removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            let dir = std::env::temp_dir()
                .join(format!("reel-config-{}", reel_actors::sessions::new_id(12)));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        fn file(&self, name: &str, text: &str) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Loads with `vars` as the whole environment.
    fn load_env(file: Option<&Path>, vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_from(file, |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    const DB: &str = "postgres://reel:pg-pass-1@127.0.0.1/reel";
    const DSN: &str = "https://0123456789abcdef@127.0.0.1:9/1";

    #[test]
    fn every_secret_reads_from_its_file_without_the_trailing_newline() {
        let dir = Dir::new();
        let c = load_env(
            None,
            &[
                (
                    "REEL_DATABASE_URL_FILE",
                    &dir.file("db", &format!("{DB}\n")),
                ),
                (
                    "REEL_REDIS_URL_FILE",
                    &dir.file("redis", "redis://:r-pass@h:1/\r\n"),
                ),
                ("REEL_SENTRY_DSN_FILE", &dir.file("dsn", DSN)),
                ("REEL_S3_ACCESS_KEY_ID_FILE", &dir.file("id", "AKID-1\n")),
                (
                    "REEL_S3_SECRET_ACCESS_KEY_FILE",
                    &dir.file("key", "s3 key/1\n"),
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.database_url(), DB);
        assert_eq!(
            c.redis_url.as_ref().unwrap().expose(),
            "redis://:r-pass@h:1/"
        );
        assert_eq!(c.sentry.dsn.as_ref().unwrap().expose(), DSN);
        // Inner spaces are the secret's own.
        let creds = c.s3_credentials().unwrap();
        assert_eq!(
            (
                creds.access_key_id.as_str(),
                creds.secret_access_key.as_str()
            ),
            ("AKID-1", "s3 key/1")
        );
    }

    #[test]
    fn a_secret_and_its_file_both_set_is_an_error() {
        let dir = Dir::new();
        let path = dir.file("db", DB);
        let err = load_env(
            None,
            &[("REEL_DATABASE_URL", DB), ("REEL_DATABASE_URL_FILE", &path)],
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("REEL_DATABASE_URL and REEL_DATABASE_URL_FILE are both set"),
            "{text}"
        );
        assert!(!text.contains("pg-pass-1"), "{text}");
        // In the config file too.
        let toml = dir.file(
            "reel.toml",
            &format!("database_url = \"{DB}\"\ndatabase_url_file = \"{path}\"\n"),
        );
        let err = load_env(Some(Path::new(&toml)), &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("both database_url and database_url_file"),
            "{err:#}"
        );
    }

    #[test]
    fn an_unreadable_secret_file_names_the_variable_and_the_path_only() {
        let dir = Dir::new();
        let missing = dir.0.join("missing").display().to_string();
        let err = load_env(None, &[("REEL_REDIS_URL_FILE", &missing)]).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("REEL_REDIS_URL_FILE") && text.contains(&missing),
            "{text}"
        );
        let empty = dir.file("empty", "\n");
        let err = load_env(None, &[("REEL_SENTRY_DSN_FILE", &empty)]).unwrap_err();
        assert!(format!("{err:#}").contains("is empty"), "{err:#}");
        // A file that is not text: the error says so, not what it holds.
        let binary = dir.0.join("binary");
        std::fs::write(&binary, b"pg-pass-1\xff\xfe").unwrap();
        let err = load_env(
            None,
            &[("REEL_DATABASE_URL_FILE", binary.to_str().unwrap())],
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("REEL_DATABASE_URL_FILE") && !text.contains("pg-pass-1"),
            "{text}"
        );
    }

    #[test]
    fn the_environment_overrides_the_config_files_secret_file() {
        let dir = Dir::new();
        let from_file = dir.file("from-file", "redis://file/\n");
        let toml = dir.file(
            "reel.toml",
            &format!("redis_url_file = \"{from_file}\"\n[s3]\naccess_key_id_file = \"{}\"\nsecret_access_key = \"k\"\n[sentry]\ndsn_file = \"{}\"\n", dir.file("id", "AKID-2"), dir.file("dsn", DSN)),
        );
        let c = load_env(Some(Path::new(&toml)), &[]).unwrap();
        assert_eq!(c.redis_url.as_ref().unwrap().expose(), "redis://file/");
        assert_eq!(c.s3_credentials().unwrap().access_key_id, "AKID-2");
        assert_eq!(c.sentry.dsn.as_ref().unwrap().expose(), DSN);
        assert_eq!(c.redis_url_file, None, "read once, at load");
        let c = load_env(
            Some(Path::new(&toml)),
            &[("REEL_REDIS_URL", "redis://env/")],
        )
        .unwrap();
        assert_eq!(c.redis_url.unwrap().expose(), "redis://env/");
    }

    #[test]
    fn s3_keys_go_together_and_a_dsn_must_parse() {
        let err = load_env(None, &[("REEL_S3_ACCESS_KEY_ID", "AKID")]).unwrap_err();
        assert!(
            format!("{err:#}").contains("set both or neither"),
            "{err:#}"
        );
        assert!(load_env(None, &[]).unwrap().s3_credentials().is_none());
        let err = load_env(None, &[("REEL_SENTRY_DSN", "not a dsn pw-3")]).unwrap_err();
        assert!(!format!("{err:#}").contains("pw-3"), "{err:#}");
    }

    #[test]
    fn every_secret_variable_has_a_file_form() {
        let names = env_var_names();
        for secret in [
            "REEL_DATABASE_URL",
            "REEL_REDIS_URL",
            "REEL_SENTRY_DSN",
            "REEL_S3_ACCESS_KEY_ID",
            "REEL_S3_SECRET_ACCESS_KEY",
        ] {
            assert!(names.contains(&secret.to_string()), "{secret}");
            assert!(names.contains(&format!("{secret}_FILE")), "{secret}_FILE");
        }
        assert!(!names.contains(&"REEL_LISTEN_FILE".to_string()));
    }

    #[test]
    fn trusted_proxies_come_from_file_and_env() {
        let c: Config =
            toml::from_str("trusted_proxies = [\"10.0.0.0/8\", \"fd00::/8\"]\n").unwrap();
        assert!(c.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(c.trusted_proxies.contains("fd00::1".parse().unwrap()));
        let err = toml::from_str::<Config>("trusted_proxies = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
        let set = |v: &str| {
            let mut c = Config::default();
            let Some((_, Var::Plain(f))) =
                ENV_VARS.iter().find(|(n, _)| *n == "REEL_TRUSTED_PROXIES")
            else {
                panic!("REEL_TRUSTED_PROXIES is a plain variable");
            };
            f(&mut c, v.to_owned()).map(|()| c)
        };
        let c = set("127.0.0.1/32, ::1").unwrap();
        assert!(c.trusted_proxies.contains("::1".parse().unwrap()));
        assert!(!c.trusted_proxies.contains("127.0.0.2".parse().unwrap()));
        let err = set("127.0.0.1/32,10.0.0.0/8x").unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/8x"), "{err}");
        assert!(Config::default().trusted_proxies.is_empty());
    }

    #[test]
    fn profiling_settings_are_read_and_checked() {
        let mut c = Config::default();
        assert_eq!(c.log.slow_request_ms, DEFAULT_SLOW_REQUEST_MS);
        assert_eq!(c.otlp.endpoint, None, "OTLP export is off by default");
        let set = |c: &mut Config, name: &str, v: &str| plain(name)(c, v.to_owned());
        set(&mut c, "REEL_SLOW_REQUEST_MS", "0").unwrap();
        assert_eq!(c.log.slow_request_ms, 0);
        assert!(set(&mut c, "REEL_SLOW_REQUEST_MS", "fast").is_err());
        set(&mut c, "REEL_OTLP_ENDPOINT", "").unwrap();
        assert_eq!(c.otlp.endpoint, None, "an empty endpoint leaves it off");
        set(&mut c, "REEL_OTLP_ENDPOINT", "127.0.0.1:4318").unwrap();
        assert!(c.validate().is_err(), "an endpoint is a URL");
        set(&mut c, "REEL_OTLP_ENDPOINT", "http://127.0.0.1:4318").unwrap();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn every_variable_is_in_the_operators_table() {
        let ops = include_str!("../docs/operations.md");
        let start = ops.find("## Configuration").expect("the section");
        let end = start + ops[start + 1..].find("\n## ").expect("the next section");
        let table = &ops[start..end];
        let missing: Vec<&str> = ENV_VARS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !table.contains(&format!("`{name}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "variables missing from docs/operations.md, \"Configuration\": {missing:?}"
        );
    }

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let c = Config::default();
        assert_eq!(c.database_url(), "sqlite://./reel-data/index.db");
    }
}
