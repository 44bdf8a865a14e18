//! Optional OpenTelemetry trace export: OTLP over HTTP (JSON body) to
//! `otlp.endpoint`, off by default.
//!
//! When on, each HTTP request is a server span (`GET /api/v1/sessions/{session}`:
//! method, route pattern, status), and each index and blob call made on its
//! behalf a client span under it ([`crate::timed`]). Spans carry only the
//! fields set here: never a query string, a cookie, a header or a token.
//! They are batched on the exporter's own thread (reqwest's blocking client
//! there, so the HTTP workers never wait on the collector) and flushed when
//! [`Export`] is dropped, at the end of `reel serve`. A batch the collector
//! does not take is dropped (the SDK's bounded queue), never retried into
//! memory.
//!
//! The spans have their own target, [`TARGET`], which the export's layer
//! alone listens to, and which is admitted at INFO whatever `log.level`
//! says (the log lines do not show them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::filter::{Directive, LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::Config;
use crate::http::timing::Store;

/// The spans' target; the export's layer listens to nothing else.
pub const TARGET: &str = "reel::trace";
/// `service.name` of every span.
pub const SERVICE_NAME: &str = "reel";
/// The collector's path for traces, under `otlp.endpoint`.
pub const TRACES_PATH: &str = "/v1/traces";
/// The resource attribute naming the node (`node_id`).
pub const NODE_ATTRIBUTE: &str = "service.instance.id";

/// How long the flush at exit may take: within the margin the shutdown
/// keeps back from its deadline (`app::SHUTDOWN_MARGIN`), so that a
/// collector that does not answer cannot hold the exit.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Is the export on? (No spans are made when it is off.)
static ON: AtomicBool = AtomicBool::new(false);

/// The running export; flushes and stops it when dropped.
pub struct Export {
    provider: SdkTracerProvider,
}

impl Export {
    /// Starts the export when `otlp.endpoint` is set. `node` is the node's
    /// id, a resource attribute of every span.
    pub fn start(config: &Config, node: &str) -> Option<Export> {
        let endpoint = config.otlp.endpoint.as_deref()?;
        let url = format!("{}{TRACES_PATH}", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(url)
            .build();
        let exporter = match exporter {
            Ok(e) => e,
            Err(e) => {
                // Telemetry is not up yet: say it on standard error.
                eprintln!("reel: OTLP export off: {e}");
                return None;
            }
        };
        // An empty resource: the SDK's detectors would read OTEL_* variables.
        let resource = Resource::builder_empty()
            .with_service_name(SERVICE_NAME)
            .with_attribute(KeyValue::new(NODE_ATTRIBUTE, node.to_owned()))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        ON.store(true, Ordering::Relaxed);
        Some(Export { provider })
    }

    /// The tracing layer that turns [`TARGET`]'s spans into OTLP spans.
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(SERVICE_NAME))
            .with_threads(false)
            .with_filter(Targets::new().with_target(TARGET, LevelFilter::INFO))
    }

    /// The log filter's directive that admits [`TARGET`]'s spans whatever
    /// the log level (the log lines do not show spans).
    pub fn directive() -> Directive {
        // unwrap: a constant, valid directive.
        format!("{TARGET}=info").parse().unwrap()
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        ON.store(false, Ordering::Relaxed);
        if let Err(e) = self.provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
            eprintln!("reel: flushing the OTLP export failed: {e}");
        }
    }
}

/// Is the export on?
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The span of one HTTP request (`Span::none()` when the export is off).
pub fn request_span(method: &str, route: &str) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    )
}

/// Records the request's status on its span.
pub fn end_request_span(span: &tracing::Span, status: u16) {
    if span.is_none() {
        return;
    }
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// The span of one index or blob call made for a request.
pub fn store_span(store: Store, op: &'static str) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "store",
        otel.name = %format_args!("{} {op}", store.as_str()),
        otel.kind = "client",
        reel.store = store.as_str(),
        reel.operation = op,
    )
}
