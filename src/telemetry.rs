//! Logs, errors and metrics from day one: tracing (pretty on a terminal,
//! JSON otherwise or by config), Sentry when a DSN is set (ERROR events
//! become Sentry events, WARN and INFO breadcrumbs; cookies and auth headers
//! stripped), and the Prometheus recorder behind `/metrics`.

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, LogFormat};

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

/// Headers never sent to Sentry.
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "set-cookie", "x-api-key"];

/// Keeps Sentry flushing until dropped (at exit).
pub struct Guard {
    _sentry: Option<sentry::ClientInitGuard>,
}

/// Initialises tracing and Sentry for the process. Call once, first.
pub fn init(config: &Config) -> Guard {
    let sentry = config.sentry.dsn.as_ref().map(|dsn| {
        sentry::init((
            dsn.expose(),
            sentry::ClientOptions {
                release: sentry::release_name!(),
                environment: config.sentry.environment.clone().map(Into::into),
                send_default_pii: false,
                before_send: Some(std::sync::Arc::new(|mut event| {
                    scrub(&mut event);
                    Some(event)
                })),
                ..Default::default()
            },
        ))
    });
    let filter = EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match config.log.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let fmt = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    };
    let sentry_layer = sentry
        .as_ref()
        .map(|_| sentry::integrations::tracing::layer());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(sentry_layer)
        .try_init();
    Guard { _sentry: sentry }
}

/// Removes cookies and credentials from an event before it leaves.
pub fn scrub(event: &mut sentry::protocol::Event<'static>) {
    if let Some(req) = event.request.as_mut() {
        req.cookies = None;
        req.headers
            .retain(|k, _| !SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()));
        if let Some(q) = req.query_string.as_mut() {
            if q.contains("token") {
                *q = "[redacted]".into();
            }
        }
    }
}

/// The process's Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("reel_ack_delay_seconds".into()),
                    ACK_DELAY_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("reel_spool_group_size".into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_strips_cookies_and_auth() {
        let mut event = sentry::protocol::Event::default();
        let mut req = sentry::protocol::Request {
            cookies: Some("sid=1".into()),
            ..Default::default()
        };
        req.headers
            .insert("Authorization".into(), "Bearer x".into());
        req.headers.insert("Accept".into(), "*/*".into());
        event.request = Some(req);
        scrub(&mut event);
        let req = event.request.unwrap();
        assert!(req.cookies.is_none());
        assert_eq!(req.headers.len(), 1);
        assert!(req.headers.contains_key("Accept"));
    }
}
