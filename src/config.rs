//! One typed configuration, layered: defaults, then `reel.toml`, then
//! `REEL_*` environment variables. Every variable's name is declared once,
//! in [`ENV_VARS`]; nothing else reads the environment.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use reel_actors::sessions::SessionsConfig;
use reel_protocol::Limits;
use serde::{Deserialize, Serialize};

/// A secret: never printed, never logged.
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

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
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentryConfig {
    pub dsn: Option<Secret>,
    pub environment: Option<String>,
}

/// S3 settings: setting `bucket` stores recordings in S3 instead of the
/// local blob directory. Credentials come from the standard AWS variables.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: Option<String>,
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
    /// Holds the SQLite index, the local blob directory and the spool.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default a SQLite file in `data_dir`.
    pub database_url: Option<Secret>,
    /// Selects the Redis bus and presence (`redis://...`); default the
    /// in-process bus of one node.
    pub redis_url: Option<Secret>,
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
    pub limits: Limits,
    pub ingest: IngestConfig,
    pub segments: SegmentConfig,
    pub spool: SpoolConfig,
    pub dead_letters: DeadLetterConfig,
    pub shutdown: ShutdownConfig,
    pub accounts: AccountsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./reel-data"),
            database_url: None,
            redis_url: None,
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
            limits: Limits::default(),
            ingest: IngestConfig::default(),
            segments: SegmentConfig::default(),
            spool: SpoolConfig::default(),
            dead_letters: DeadLetterConfig::default(),
            shutdown: ShutdownConfig::default(),
            accounts: AccountsConfig::default(),
        }
    }
}

/// A boolean variable: `1`, `true`, `yes` or `on` is true.
fn flag(v: &str) -> bool {
    matches!(v, "1" | "true" | "yes" | "on")
}

type Setter = fn(&mut Config, String) -> anyhow::Result<()>;

/// Every environment variable reel reads, with what it sets.
pub const ENV_VARS: &[(&str, Setter)] = &[
    ("REEL_LISTEN", |c, v| {
        c.listen = v;
        Ok(())
    }),
    ("REEL_DATA_DIR", |c, v| {
        c.data_dir = v.into();
        Ok(())
    }),
    ("REEL_DATABASE_URL", |c, v| {
        c.database_url = Some(Secret(v));
        Ok(())
    }),
    ("REEL_REDIS_URL", |c, v| {
        c.redis_url = Some(Secret(v));
        Ok(())
    }),
    ("REEL_S3_BUCKET", |c, v| {
        c.s3.bucket = Some(v);
        Ok(())
    }),
    ("REEL_S3_ENDPOINT", |c, v| {
        c.s3.endpoint = Some(v);
        Ok(())
    }),
    ("REEL_S3_REGION", |c, v| {
        c.s3.region = Some(v);
        Ok(())
    }),
    ("REEL_S3_PATH_STYLE", |c, v| {
        c.s3.path_style = Some(flag(&v));
        Ok(())
    }),
    ("REEL_S3_PRESIGN_TTL_S", |c, v| {
        c.s3.presign_ttl_s = Some(v.parse().context("REEL_S3_PRESIGN_TTL_S must be seconds")?);
        Ok(())
    }),
    ("REEL_S3_CREATE_BUCKET", |c, v| {
        c.s3.create_bucket = flag(&v);
        Ok(())
    }),
    ("REEL_SPOOL_MAX_BYTES", |c, v| {
        c.spool.max_bytes = v
            .parse()
            .context("REEL_SPOOL_MAX_BYTES must be a number of bytes")?;
        Ok(())
    }),
    ("REEL_INGEST_MAX_INFLIGHT_BYTES", |c, v| {
        c.ingest.max_inflight_bytes = v
            .parse()
            .context("REEL_INGEST_MAX_INFLIGHT_BYTES must be a number of bytes")?;
        Ok(())
    }),
    ("REEL_SEGMENTS_MAX_BUFFERED_BYTES", |c, v| {
        c.segments.max_buffered_bytes = v
            .parse()
            .context("REEL_SEGMENTS_MAX_BUFFERED_BYTES must be a number of bytes")?;
        Ok(())
    }),
    ("REEL_INGEST_ADMISSION_ACK_DELAY_RATIO", |c, v| {
        c.ingest.admission_ack_delay_ratio = v
            .parse()
            .context("REEL_INGEST_ADMISSION_ACK_DELAY_RATIO must be a number")?;
        Ok(())
    }),
    ("REEL_SPOOL_DIR", |c, v| {
        c.spool.dir = Some(PathBuf::from(v));
        Ok(())
    }),
    ("REEL_SPOOL_MIN_FREE_BYTES", |c, v| {
        c.spool.min_free_bytes = v
            .parse()
            .context("REEL_SPOOL_MIN_FREE_BYTES must be a number of bytes")?;
        Ok(())
    }),
    ("REEL_DEAD_LETTERS_MAX_BYTES", |c, v| {
        c.dead_letters.max_bytes = v
            .parse()
            .context("REEL_DEAD_LETTERS_MAX_BYTES must be a number of bytes")?;
        Ok(())
    }),
    ("REEL_DEAD_LETTERS_DIR", |c, v| {
        c.dead_letters.dir = Some(PathBuf::from(v));
        Ok(())
    }),
    ("REEL_MIGRATE_ON_START", |c, v| {
        c.migrate_on_start = flag(&v);
        Ok(())
    }),
    ("REEL_SENTRY_DSN", |c, v| {
        c.sentry.dsn = Some(Secret(v));
        Ok(())
    }),
    ("REEL_NODE_ID", |c, v| {
        c.node_id = Some(v);
        Ok(())
    }),
    ("REEL_LOG", |c, v| {
        c.log.level = v;
        Ok(())
    }),
    ("REEL_LOG_FORMAT", |c, v| {
        c.log.format = match v.as_str() {
            "auto" => LogFormat::Auto,
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => bail!("REEL_LOG_FORMAT must be auto, pretty or json, not {other:?}"),
        };
        Ok(())
    }),
    ("REEL_WORKERS", |c, v| {
        c.workers = Some(v.parse().context("REEL_WORKERS must be a number")?);
        Ok(())
    }),
    ("REEL_DEMO", |c, v| {
        c.demo = flag(&v);
        Ok(())
    }),
    ("REEL_PUBLIC_ORIGINS", |c, v| {
        c.accounts.public_origins = v
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        Ok(())
    }),
    ("REEL_LOGIN_WINDOW_MS", |c, v| {
        c.accounts.login_window_ms = v
            .parse()
            .context("REEL_LOGIN_WINDOW_MS must be milliseconds")?;
        Ok(())
    }),
    ("REEL_MAINTENANCE", |c, v| {
        c.maintenance = flag(&v);
        Ok(())
    }),
];

/// The variable naming a config file, read when `--config` is not given.
pub const CONFIG_FILE_VAR: &str = "REEL_CONFIG";

impl Config {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let env_file = std::env::var(CONFIG_FILE_VAR).ok().map(PathBuf::from);
        let mut config = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => Config::default(),
        };
        for (name, set) in ENV_VARS {
            if let Ok(value) = std::env::var(name) {
                set(&mut config, value).with_context(|| format!("in {name}"))?;
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
        Ok(())
    }

    /// The index URL: the configured one, or a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("index.db").display()),
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

    #[test]
    fn secrets_do_not_print() {
        let c = Config {
            sentry: SentryConfig {
                dsn: Some(Secret::new("https://key@sentry.example/1")),
                environment: None,
            },
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("key@"));
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

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let c = Config::default();
        assert_eq!(c.database_url(), "sqlite://./reel-data/index.db");
    }
}
