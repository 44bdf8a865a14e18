//! Profiling of API calls: where each HTTP request's time went.
//!
//! [`profile`] (the outermost middleware) gives every request a [`Costs`]
//! accumulator in a task-local for as long as its handler runs *and* its
//! body streams (the events route reads segments while it streams). The
//! thin wrappers of [`crate::timed`] around the index and the blob store
//! charge each call made while that task-local is set: calls the handler
//! makes itself and calls in futures it awaits or in its body's stream.
//! Calls made in tasks it spawns (`tokio::spawn`, an actor's mailbox, the
//! outbox) run outside the request and are not counted.
//!
//! When the request ends (its body is written, or the client went away), a
//! request that took at least `log.slow_request_ms` gives one WARN line,
//! `slow request`, and counts in `reel_http_slow_requests_total{route}`;
//! with OTLP on ([`crate::otlp`]) the request is a span, and each index
//! and blob call a child span of it.
//!
//! A WebSocket upgrade (ingest, live) ends at the `101`: what the socket
//! does afterwards is not part of the request.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
use bytes::Bytes;
use tracing::Instrument;

use super::AppState;

tokio::task_local! {
    /// The costs of the request being served on this task.
    static REQUEST: Arc<Costs>;
}

/// What a store call is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The index (SQLite or Postgres: sessions, sites, accounts, frames).
    Index,
    /// The blob store (local directory or S3).
    Blob,
}

impl Store {
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Index => "index",
            Store::Blob => "blob",
        }
    }
}

/// Time spent in, and calls made to, the index and the blob store on
/// behalf of one request.
#[derive(Debug, Default)]
pub struct Costs {
    index_us: AtomicU64,
    index_calls: AtomicU64,
    blob_us: AtomicU64,
    blob_calls: AtomicU64,
    /// The site a handler found the request is about (a session's site),
    /// when its route does not name it.
    site: OnceLock<i64>,
}

impl Costs {
    /// Adds one call of `elapsed` to `store`.
    pub fn charge(&self, store: Store, elapsed: Duration) {
        let (us, calls) = match store {
            Store::Index => (&self.index_us, &self.index_calls),
            Store::Blob => (&self.blob_us, &self.blob_calls),
        };
        us.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Milliseconds spent in `store` so far, and how many calls.
    pub fn of(&self, store: Store) -> (f64, u64) {
        let (us, calls) = match store {
            Store::Index => (&self.index_us, &self.index_calls),
            Store::Blob => (&self.blob_us, &self.blob_calls),
        };
        (
            us.load(Ordering::Relaxed) as f64 / 1000.0,
            calls.load(Ordering::Relaxed),
        )
    }
}

/// Tells the request being served (if any) which site it is about, for
/// its slow-request line; the first site told wins.
pub fn note_site(site_id: i64) {
    let _ = REQUEST.try_with(|c| c.site.set(site_id));
}

/// The costs of the request this task serves now, if it serves one.
pub fn current() -> Option<Arc<Costs>> {
    REQUEST.try_with(Arc::clone).ok()
}

/// Runs `fut` as part of a request charged to `costs` (tests, and work a
/// handler wants counted although it is not awaited under [`profile`]).
pub async fn charged_to<F: std::future::Future>(costs: Arc<Costs>, fut: F) -> F::Output {
    REQUEST.scope(costs, fut).await
}

/// Milliseconds with microsecond precision, as the log line shows them.
fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// Profiles every request: its costs, its span and, when slow, its log
/// line and metric (see the module's documentation).
pub async fn profile(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<TimedBody>, actix_web::Error> {
    let started = Instant::now();
    let slow_after = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.log.slow_request_ms)
        .unwrap_or(0);
    // The pattern from the resource map: known before routing, and never
    // the concrete path (ids) or its query string.
    let route = super::route_pattern(req.request());
    let method = req.method().as_str().to_owned();
    let span = crate::otlp::request_span(&method, &route);
    let costs = Arc::new(Costs::default());
    let done = Finish {
        started,
        slow_after: Duration::from_millis(slow_after),
        route,
        method,
        status: StatusCode::INTERNAL_SERVER_ERROR,
        site: None,
        session: None,
        costs: costs.clone(),
        span: span.clone(),
    };
    let res = REQUEST.scope(costs, next.call(req).instrument(span)).await;
    let res = match res {
        Ok(res) => res,
        Err(e) => {
            Finish {
                status: e.as_response_error().status_code(),
                ..done
            }
            .finish();
            return Err(e);
        }
    };
    let params = res.request().match_info();
    let done = Finish {
        status: res.status(),
        site: params
            .get("site_id")
            .map(str::to_owned)
            .or_else(|| done.costs.site.get().map(i64::to_string)),
        session: params.get("session").map(str::to_owned),
        ..done
    };
    if done.status == StatusCode::SWITCHING_PROTOCOLS {
        done.finish();
        return Ok(res.map_body(|_, body| TimedBody {
            inner: body.boxed(),
            done: None,
        }));
    }
    Ok(res.map_body(|_, body| TimedBody {
        inner: body.boxed(),
        done: Some(done),
    }))
}

/// What is known of a request when it ends.
struct Finish {
    started: Instant,
    /// Zero: the slow-request log is off.
    slow_after: Duration,
    route: String,
    method: String,
    status: StatusCode,
    /// From the route's `{site_id}`, when it has one.
    site: Option<String>,
    /// From the route's `{session}`, when it has one.
    session: Option<String>,
    costs: Arc<Costs>,
    span: tracing::Span,
}

impl Finish {
    /// Ends the request's span and logs and counts it when slow.
    fn finish(self) {
        let total = self.started.elapsed();
        crate::otlp::end_request_span(&self.span, self.status.as_u16());
        drop(self.span);
        if self.slow_after.is_zero() || total < self.slow_after {
            return;
        }
        let (index_ms, index_calls) = self.costs.of(Store::Index);
        let (blob_ms, blob_calls) = self.costs.of(Store::Blob);
        metrics::counter!(reel_actors::metric_names::HTTP_SLOW_REQUESTS_TOTAL, "route" => self.route.clone()).increment(1);
        tracing::warn!(
            route = %self.route,
            method = %self.method,
            status = self.status.as_u16(),
            total_ms = ms(total),
            index_ms,
            index_calls,
            blob_ms,
            blob_calls,
            site_id = self.site.as_deref(),
            session_id = self.session.as_deref(),
            threshold_ms = self.slow_after.as_millis() as u64,
            "slow request"
        );
    }
}

/// A response body that streams with its request's costs in scope (so
/// that blob reads made while it streams are charged to the request), and
/// ends the request when it ends or is dropped.
pub struct TimedBody {
    inner: BoxBody,
    /// `None` once the request is finished (or for an upgrade).
    done: Option<Finish>,
}

impl MessageBody for TimedBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let inner = Pin::new(&mut this.inner);
        let polled = match &this.done {
            Some(done) => {
                let _entered = done.span.enter();
                REQUEST.sync_scope(done.costs.clone(), || inner.poll_next(cx))
            }
            None => inner.poll_next(cx),
        };
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            if let Some(done) = this.done.take() {
                done.finish();
            }
        }
        polled
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        // The client went away before the body's end, or actix dropped a
        // body it did not need to poll (a HEAD, an empty body).
        if let Some(done) = self.done.take() {
            done.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_in_awaited_futures_are_charged_and_spawned_ones_not() {
        let costs = Arc::new(Costs::default());
        charged_to(costs.clone(), async {
            current()
                .unwrap()
                .charge(Store::Index, Duration::from_micros(1500));
            // A future the handler awaits: the same task.
            async {
                current()
                    .unwrap()
                    .charge(Store::Blob, Duration::from_millis(2))
            }
            .await;
            // A spawned task is not the request's.
            let spawned = tokio::spawn(async { current().is_none() }).await.unwrap();
            assert!(spawned);
        })
        .await;
        assert_eq!(costs.of(Store::Index), (1.5, 1));
        assert_eq!(costs.of(Store::Blob), (2.0, 1));
        assert!(current().is_none());
    }
}
