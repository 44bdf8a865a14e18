//! Logs, errors and metrics from day one: tracing (pretty on a terminal,
//! JSON otherwise or by config), Sentry when a DSN is set (panics and ERROR
//! events become Sentry events, WARN and INFO breadcrumbs; tagged with the
//! site, session and node; cookies, credentials, query strings and personal
//! data stripped), and the Prometheus recorder behind `/metrics`. The HTTP
//! side of Sentry (a scope per request, 5xx) is [`crate::http::failures`].

use std::io::{IsTerminal, Write as _};
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, LogFormat, SentryConfig};
use crate::secrets::redact;
use reel_actors::metric_names;

/// Buckets (seconds) of every latency histogram.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets (seconds) of `reel_ack_delay_seconds`: finer around the 5 s
/// bound of PROTOCOL.md §1 and well past it, to tell how far it was missed.
const ACK_DELAY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5,
    10.0, 15.0, 20.0, 30.0, 60.0,
];

/// Keeps Sentry flushing until dropped (at exit).
pub struct Guard {
    _sentry: Option<sentry::ClientInitGuard>,
    /// OTLP trace export (`crate::otlp`), flushed when dropped.
    _otlp: Option<crate::otlp::Export>,
}

/// Initialises tracing and Sentry for the process. Call once, first.
pub fn init(config: &Config) -> Guard {
    crate::secrets::install_redactor(config);
    // Before Sentry's, which calls it after reporting the panic.
    std::panic::set_hook(Box::new(print_panic));
    let sentry = init_sentry(&config.sentry);
    let mut filter =
        EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let otlp = crate::otlp::Export::start(config, &config.node_id.clone().unwrap_or_default());
    if otlp.is_some() {
        filter = filter.add_directive(crate::otlp::Export::directive());
    }
    let json = match config.log.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let fmt = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(RedactedStderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(RedactedStderr)
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(sentry.as_ref().map(|_| sentry_layer()))
        .with(otlp.as_ref().map(|o| o.layer()))
        .try_init();
    Guard {
        _sentry: sentry,
        _otlp: otlp,
    }
}

/// Standard error, with every secret taken out of each log line
/// ([`redact`]: the user information of URLs, the values of the node's
/// secrets): the last guard against a dependency's line that prints a URL
/// or a key it was given. (The fmt layer writes each event with one call.)
struct RedactedStderr;

impl<'a> MakeWriter<'a> for RedactedStderr {
    type Writer = RedactedStderr;

    fn make_writer(&'a self) -> RedactedStderr {
        RedactedStderr
    }
}

impl std::io::Write for RedactedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut stderr = std::io::stderr().lock();
        stderr.write_all(redact(&String::from_utf8_lossy(buf)).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Prints a panic as Rust's own hook does, its message without secrets
/// ([`redact`]): a panic that formats a config or an error must not print
/// a password. The backtrace follows when `RUST_BACKTRACE` asks for it.
fn print_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
    let thread = std::thread::current();
    let location = info.location().map(ToString::to_string).unwrap_or_default();
    let backtrace = std::backtrace::Backtrace::capture();
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "thread '{}' panicked at {location}:\n{}",
        thread.name().unwrap_or("<unnamed>"),
        redact(message)
    );
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        let _ = writeln!(
            stderr,
            "stack backtrace:\n{}",
            redact(&backtrace.to_string())
        );
    }
}

// ---------------------------------------------------------------------
// Sentry: what is reported, with which tags, and what never leaves.
// ---------------------------------------------------------------------

/// The tags reel puts on its Sentry events (docs/operations.md, "Logs and
/// Sentry"): the route pattern, never the path with its ids or query.
pub mod tag {
    pub const ROUTE: &str = "route";
    pub const SITE: &str = "site";
    pub const SESSION: &str = "session";
    pub const NODE: &str = "node";
    pub const STATUS: &str = "status";
}

/// Log fields that name a site or a session: an ERROR carrying one gets
/// the matching tag (the session actor, the outbox and ingest log them).
const SITE_FIELDS: &[&str] = &["site_id", "site"];
const SESSION_FIELDS: &[&str] = &["session_id", "session"];

/// Headers never sent to Sentry.
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "set-cookie", "x-api-key"];

/// Log fields never sent (in an event's fields or a breadcrumb's data):
/// anything whose name contains one of these...
const SECRET_FIELD_PARTS: &[&str] = &[
    "password",
    "token",
    "secret",
    "cookie",
    "authorization",
    "query",
    "dsn",
];
/// ...and personal data, by exact name.
const PERSONAL_FIELDS: &[&str] = &[
    "email",
    "actor",
    "ip",
    "peer",
    "user_agent",
    "visitor",
    "visitor_id",
];
/// User ids: sent only with `sentry.send_user_ids`.
const USER_ID_FIELDS: &[&str] = &["user_id", "user"];

/// The context the tracing integration puts an event's fields in.
const TRACING_FIELDS_CONTEXT: &str = "Rust Tracing Fields";

/// This node's id, tagged on every event (set by [`set_node`] at start).
static NODE: OnceLock<String> = OnceLock::new();

/// Tags every later Sentry event of this process with `node`.
pub fn set_node(id: &str) {
    let _ = NODE.set(id.to_owned());
}

/// What `before_send` needs beyond the event.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrubOptions {
    /// `sentry.send_user_ids`: keep user ids (never emails or addresses).
    pub send_user_ids: bool,
}

/// Starts the Sentry client when a DSN is set: panics (the panic
/// integration), ERROR events and the 5xx of [`crate::http::failures`]
/// become events; every event and breadcrumb goes through [`scrub`].
fn init_sentry(config: &SentryConfig) -> Option<sentry::ClientInitGuard> {
    let dsn: sentry::types::Dsn = match config.dsn.as_ref()?.expose().parse() {
        Ok(dsn) => dsn,
        Err(e) => {
            // Logging is not set up yet; the DSN itself is a secret.
            eprintln!("reel: Sentry is off: the DSN does not parse ({e})");
            return None;
        }
    };
    // Sentry's transport is reqwest on rustls with no bundled provider:
    // ring, as the S3 client uses (an error means one is installed).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = ScrubOptions {
        send_user_ids: config.send_user_ids,
    };
    let mut client = sentry::ClientOptions::default();
    client.dsn = Some(dsn);
    client.release = sentry::release_name!();
    client.environment = config.environment.clone().map(Into::into);
    client.send_default_pii = false;
    client.before_send = Some(Arc::new(move |mut event| {
        scrub(&mut event, options);
        Some(event)
    }));
    client.before_breadcrumb = Some(Arc::new(move |mut crumb| {
        if let Some(m) = crumb.message.as_mut() {
            *m = redact(m);
        }
        scrub_map(&mut crumb.data, options);
        Some(crumb)
    }));
    let guard = sentry::init(client);
    guard.is_enabled().then_some(guard)
}

/// ERROR events become Sentry events, WARN and INFO breadcrumbs (kept on
/// the current scope and sent with the next event).
fn sentry_layer<S>() -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
    BreadcrumbLayer::new()
        .with_filter(filter_fn(|m| {
            matches!(*m.level(), tracing::Level::WARN | tracing::Level::INFO)
        }))
        .and_then(ErrorLayer::new().with_filter(LevelFilter::ERROR))
        .boxed()
}

/// Makes an event fit to leave: tags from its site and session fields and
/// the node; no cookies, credentials, query strings or personal data
/// (user ids only with `send_user_ids`), and the node's secrets taken out
/// of every text in it ([`redact`]).
pub fn scrub(event: &mut sentry::protocol::Event<'static>, options: ScrubOptions) {
    // The node's secrets out of every text ([`redact`]).
    let redact_value = |v: &mut serde_json::Value| {
        if let serde_json::Value::String(s) = v {
            *s = redact(s);
        }
    };
    if let Some(m) = event.message.as_mut() {
        *m = redact(m);
    }
    if let Some(entry) = event.logentry.as_mut() {
        entry.message = redact(&entry.message);
    }
    for e in event.exception.values.iter_mut() {
        if let Some(v) = e.value.as_mut() {
            *v = redact(v);
        }
    }
    event.extra.values_mut().for_each(redact_value);
    for crumb in event.breadcrumbs.values.iter_mut() {
        if let Some(m) = crumb.message.as_mut() {
            *m = redact(m);
        }
        crumb.data.values_mut().for_each(redact_value);
    }
    if let Some(req) = event.request.as_mut() {
        req.cookies = None;
        req.query_string = None;
        req.data = None;
        req.env.clear();
        req.headers
            .retain(|k, _| !SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()));
        if let Some(url) = req.url.as_mut() {
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
    }
    if let Some(sentry::protocol::Context::Other(fields)) =
        event.contexts.get_mut(TRACING_FIELDS_CONTEXT)
    {
        for (tag, names) in [(tag::SITE, SITE_FIELDS), (tag::SESSION, SESSION_FIELDS)] {
            if let Some(value) = names.iter().find_map(|n| fields.get(*n)) {
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                event.tags.entry(tag.to_owned()).or_insert(value);
            }
        }
        scrub_map(fields, options);
    }
    scrub_map(&mut event.extra, options);
    if let Some(node) = NODE.get() {
        event
            .tags
            .entry(tag::NODE.to_owned())
            .or_insert_with(|| node.clone());
    }
    match event.user.as_mut() {
        Some(user) if options.send_user_ids && user.id.is_some() => {
            *user = sentry::User {
                id: user.id.take(),
                ..Default::default()
            };
        }
        _ => event.user = None,
    }
    if !options.send_user_ids {
        for name in USER_ID_FIELDS {
            event.tags.remove(*name);
        }
    }
}

/// Removes secret and personal fields from a map of log fields.
fn scrub_map(
    fields: &mut std::collections::BTreeMap<String, serde_json::Value>,
    options: ScrubOptions,
) {
    fields.retain(|name, _| {
        let name = name.to_ascii_lowercase();
        // A span's fields come as `span:field`.
        let field = name.rsplit(':').next().unwrap_or(&name);
        !(SECRET_FIELD_PARTS.iter().any(|p| field.contains(p))
            || PERSONAL_FIELDS.contains(&field)
            || (!options.send_user_ids && USER_ID_FIELDS.contains(&field)))
    });
}

/// The process's Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(metric_names::ACK_DELAY_SECONDS.into()),
                    ACK_DELAY_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(metric_names::SPOOL_GROUP_SIZE.into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0],
                )
            });
        match builder.and_then(|b| b.install_recorder()) {
            Ok(handle) => handle,
            // Another recorder is installed (tests embed several nodes in one
            // process): render from a private one.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// Describes every metric of [`metric_names::ALL`] and registers it, so a
/// fresh node's `/metrics` lists every name before anything happened:
/// counters and gauges at zero, histograms empty. A metric with labels
/// also shows one unlabelled series (zero, or an empty histogram) beside
/// its labelled ones; sums and `histogram_quantile` by label ignore it.
/// Registering never changes a value already recorded.
pub fn describe_metrics() {
    use metric_names::Kind;
    for m in metric_names::ALL {
        match m.kind {
            Kind::Counter => {
                metrics::describe_counter!(m.name, m.help);
                let _ = metrics::counter!(m.name);
            }
            Kind::Gauge => {
                metrics::describe_gauge!(m.name, m.help);
                let _ = metrics::gauge!(m.name);
            }
            Kind::Histogram => {
                metrics::describe_histogram!(m.name, m.help);
                let _ = metrics::histogram!(m.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry::protocol::{Context, Event, Request, User};

    fn fields(pairs: &[(&str, serde_json::Value)]) -> Context {
        Context::Other(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    /// Every `.rs` file under `dir`.
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_metric_name_comes_from_metric_names() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        rust_files(&root.join("actors/src"), &mut files);
        assert!(files.len() > 20, "the scan found the source tree");
        let mut left = Vec::new();
        for path in files.iter().filter(|p| !p.ends_with("metric_names.rs")) {
            let text = std::fs::read_to_string(path).unwrap();
            for (at, _) in text.match_indices("!(") {
                let before = &text[..at];
                let is_metric_macro = ["counter", "gauge", "histogram"]
                    .iter()
                    .any(|m| before.ends_with(m));
                let after = text[at + 2..].trim_start();
                if is_metric_macro && after.starts_with("\"reel_") {
                    let literal = after[1..].split('"').next().unwrap_or_default();
                    left.push(format!("{}: \"{literal}\"", path.display()));
                }
            }
            for m in metric_names::ALL {
                if text.contains(&format!("\"{}\"", m.name)) {
                    left.push(format!("{}: \"{}\"", path.display(), m.name));
                }
            }
        }
        assert!(
            left.is_empty(),
            "metric names spelt as literals (use reel_actors::metric_names):\n{}",
            left.join("\n")
        );
    }

    #[test]
    fn every_metric_is_in_the_operators_table() {
        let ops = include_str!("../docs/operations.md");
        let start = ops
            .find("## Health, readiness, metrics")
            .expect("the metrics section");
        let end = start + ops[start..].find("\n## ").expect("the next section");
        let table = &ops[start..end];
        let missing: Vec<&str> = metric_names::ALL
            .iter()
            .map(|m| m.name)
            .filter(|name| !table.contains(&format!("`{name}")))
            .collect();
        assert!(
            missing.is_empty(),
            "metrics missing from docs/operations.md, \"Health, readiness, metrics\": {missing:?}"
        );
    }

    #[test]
    fn scrub_strips_cookies_auth_and_query() {
        let mut event = Event::default();
        let mut req = Request {
            cookies: Some("sid=1".into()),
            query_string: Some("token=abc&password=def".into()),
            url: Some(
                "https://u:p@reel.example/api/v1/x?token=abc#f"
                    .parse()
                    .unwrap(),
            ),
            ..Default::default()
        };
        req.headers
            .insert("Authorization".into(), "Bearer x".into());
        req.headers.insert("Accept".into(), "*/*".into());
        event.request = Some(req);
        scrub(&mut event, ScrubOptions::default());
        let req = event.request.unwrap();
        assert!(req.cookies.is_none());
        assert!(req.query_string.is_none());
        assert_eq!(req.url.unwrap().as_str(), "https://reel.example/api/v1/x");
        assert_eq!(req.headers.len(), 1);
        assert!(req.headers.contains_key("Accept"));
    }

    #[test]
    fn scrub_tags_site_and_session_from_fields_and_drops_personal_ones() {
        let mut event = Event::default();
        event.contexts.insert(
            TRACING_FIELDS_CONTEXT.into(),
            fields(&[
                ("session_id", "s-1".into()),
                ("site_id", 7.into()),
                ("email", "a@b.example".into()),
                ("user_id", 42.into()),
                ("api_token", "t".into()),
                ("seq", 3.into()),
            ]),
        );
        event.user = Some(User {
            id: Some("42".into()),
            email: Some("a@b.example".into()),
            ..Default::default()
        });
        scrub(&mut event, ScrubOptions::default());
        assert_eq!(event.tags[tag::SESSION], "s-1");
        assert_eq!(event.tags[tag::SITE], "7");
        assert!(event.user.is_none());
        let Some(Context::Other(left)) = event.contexts.get(TRACING_FIELDS_CONTEXT) else {
            panic!("fields gone");
        };
        let names: Vec<&str> = left.keys().map(String::as_str).collect();
        assert_eq!(names, ["seq", "session_id", "site_id"]);
    }

    #[test]
    fn user_ids_only_with_the_switch() {
        let user = || User {
            id: Some("42".into()),
            email: Some("a@b.example".into()),
            ip_address: Some("10.0.0.1".parse().unwrap()),
            ..Default::default()
        };
        let on = ScrubOptions {
            send_user_ids: true,
        };
        let mut event = Event {
            user: Some(user()),
            ..Default::default()
        };
        scrub(&mut event, on);
        assert_eq!(
            event.user,
            Some(User {
                id: Some("42".into()),
                ..Default::default()
            })
        );
        let mut event = Event {
            user: Some(user()),
            ..Default::default()
        };
        scrub(&mut event, ScrubOptions::default());
        assert!(event.user.is_none());
    }

    #[test]
    fn scrub_takes_urls_passwords_out_of_texts() {
        let mut event = sentry::protocol::Event {
            message: Some("connecting to postgres://u:pg-pw-9@h/db".into()),
            ..Default::default()
        };
        event
            .extra
            .insert("error".into(), "redis://:redis-pw-9@h:6379/ refused".into());
        event.breadcrumbs.values.push(sentry::protocol::Breadcrumb {
            message: Some("s3 at http://key:s3-pw-9@h/".into()),
            ..Default::default()
        });
        scrub(&mut event, ScrubOptions::default());
        let printed = serde_json::to_string(&event).unwrap();
        for secret in ["pg-pw-9", "redis-pw-9", "s3-pw-9"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }
}
