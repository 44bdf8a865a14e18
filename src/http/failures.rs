//! Failures of HTTP requests reported to Sentry, once each.
//!
//! Every request runs in its own Sentry hub (a copy of the process's),
//! whose scope carries the request's tags: `route` (the pattern, e.g.
//! `/api/v1/sessions/{session}`, never the path with its ids or query),
//! `site` and `session` when the path names one (handlers add the site
//! once they know it, [`tag_site`]), and `node`. What the handler logs at
//! ERROR, and a panic, become events in that scope; the response body is
//! polled in it too (a stream that fails half-way logs its ERROR there).
//! A 5xx response becomes an event only when nothing was captured in the
//! request's scope, so one fault gives exactly one event. 503 is reel's
//! deliberate refusal (maintenance, draining, back-pressure, `/readyz`
//! not ready), counted in metrics and not reported.
//!
//! Nothing here reads the query string, cookies or headers: the scrubbing
//! of what does reach an event is [`crate::telemetry::scrub`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
use bytes::Bytes;
use sentry::{Hub, Level, SentryFutureExt};

use super::AppState;
use crate::telemetry::tag;

/// Path parameters that name a site or a session, and their tag.
const PATH_TAGS: &[(&str, &str)] = &[("site_id", tag::SITE), ("session", tag::SESSION)];

/// Runs the request in its own hub, reports a 5xx nothing else reported.
/// Costs nothing beyond a check when Sentry is off.
pub async fn report(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Bound>, actix_web::Error> {
    let main = Hub::main();
    if main.client().is_none_or(|c| !c.is_enabled()) {
        return Ok(next.call(req).await?.map_body(|_, body| Bound {
            hub: None,
            body: body.boxed(),
        }));
    }
    let hub = Arc::new(Hub::new_from_top(&main));
    let route = super::route_pattern(req.request());
    let method = req.method().clone();
    hub.configure_scope(|scope| {
        scope.set_tag(tag::ROUTE, &route);
        scope.set_transaction(Some(&format!("{method} {route}")));
        if let Some(state) = req.app_data::<web::Data<AppState>>() {
            scope.set_tag(tag::NODE, &state.node_id);
        }
        for (name, value) in path_params(&route, req.path()) {
            if let Some((_, tag)) = PATH_TAGS.iter().find(|(p, _)| *p == name) {
                scope.set_tag(tag, value);
            }
        }
    });
    let res = next.call(req).bind_hub(hub.clone()).await;
    let status = match &res {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    if reportable(status) && hub.last_event_id().is_none() {
        hub.configure_scope(|scope| scope.set_tag(tag::STATUS, status.as_u16()));
        hub.capture_message(
            &format!("{} {} answered {status}", method, route),
            Level::Error,
        );
    }
    Ok(res?.map_body(|_, body| Bound {
        hub: Some(hub),
        body: body.boxed(),
    }))
}

/// A status that is a fault to report: 5xx but 503 (a refusal).
fn reportable(status: StatusCode) -> bool {
    status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE
}

/// Tags the current request's (or connection's) scope with its site, once
/// a handler knows it. Nothing when Sentry is off.
pub fn tag_site(site_id: i64) {
    sentry::configure_scope(|scope| scope.set_tag(tag::SITE, site_id));
}

/// Tags the current scope with a session.
pub fn tag_session(session_id: &str) {
    sentry::configure_scope(|scope| scope.set_tag(tag::SESSION, session_id));
}

/// Puts the signed-in person's id (only the id) on the current scope, when
/// `sentry.send_user_ids` says so.
pub fn tag_user(state: &AppState, user_id: i64) {
    if state.config.sentry.send_user_ids {
        sentry::configure_scope(|scope| {
            scope.set_user(Some(sentry::User {
                id: Some(user_id.to_string()),
                ..Default::default()
            }))
        });
    }
}

/// A hub for work that outlives its request (a WebSocket connection's
/// task): a copy of the current scope, or `None` when Sentry is off.
pub fn task_hub() -> Option<Arc<Hub>> {
    let current = Hub::current();
    current
        .client()
        .is_some_and(|c| c.is_enabled())
        .then(|| Arc::new(Hub::new_from_top(&current)))
}

/// The values of a route pattern's `{name}` segments in `path` (a
/// segment with a regex, `{name:...}`, is skipped).
fn path_params<'a>(pattern: &'a str, path: &'a str) -> Vec<(&'a str, &'a str)> {
    pattern
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(p, v)| {
            let name = p.strip_prefix('{')?.strip_suffix('}')?;
            (!name.contains(':') && !v.is_empty()).then_some((name, v))
        })
        .collect()
}

/// A response body polled in its request's hub.
pub struct Bound {
    hub: Option<Arc<Hub>>,
    body: BoxBody,
}

impl MessageBody for Bound {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let body = Pin::new(&mut this.body);
        match &this.hub {
            Some(hub) => Hub::run(hub.clone(), || body.poll_next(cx)),
            None => body.poll_next(cx),
        }
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let hub = self.hub;
        self.body
            .try_into_bytes()
            .map_err(|body| Bound { hub, body })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use actix_web::test::{call_service, init_service, TestRequest};
    use actix_web::{App, HttpResponse};
    use sentry::protocol::Event;
    use sentry::{ClientOptions, Envelope, Transport};

    use super::*;

    /// Keeps what the client sends.
    #[derive(Default)]
    struct Kept(Mutex<Vec<Envelope>>);

    impl Transport for Kept {
        fn send_envelope(&self, envelope: Envelope) {
            self.0.lock().unwrap().push(envelope);
        }
    }

    impl Kept {
        fn events(&self) -> Vec<Event<'static>> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .filter_map(|e| e.event().cloned())
                .collect()
        }
    }

    /// A client sending to `kept`, with the panic integration (its hook is
    /// installed once for the process, chained to the previous one). The
    /// tests bind it to the process's hub, so they run one at a time
    /// (`SERIAL`).
    fn client(kept: &Arc<Kept>) -> Arc<sentry::Client> {
        let mut options = ClientOptions::default();
        options.dsn = Some("http://key@127.0.0.1:1/1".parse().unwrap());
        options.transport = Some(Arc::new(kept.clone()));
        options.integrations = vec![Arc::new(
            sentry::integrations::panic::PanicIntegration::new(),
        )];
        options.default_integrations = false;
        Arc::new(sentry::Client::from(options))
    }

    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[test]
    fn params_of_a_pattern() {
        assert_eq!(
            path_params(
                "/api/v1/sessions/{session}/events",
                "/api/v1/sessions/s-1/events"
            ),
            [("session", "s-1")]
        );
        assert_eq!(
            path_params("/api/v1/sites/{site_id}/usage", "/api/v1/sites/7/usage"),
            [("site_id", "7")]
        );
        assert!(path_params("/demo/{page:.*}", "/demo/a").is_empty());
    }

    async fn fails() -> HttpResponse {
        HttpResponse::InternalServerError().finish()
    }

    async fn logs_and_fails() -> HttpResponse {
        sentry::capture_message("internal error", Level::Error);
        HttpResponse::InternalServerError().finish()
    }

    async fn refuses() -> HttpResponse {
        HttpResponse::ServiceUnavailable().finish()
    }

    async fn panics() -> HttpResponse {
        panic!("a handler's bug")
    }

    #[actix_web::test]
    async fn one_event_per_fault_with_the_route_pattern() {
        let _serial = SERIAL.lock().await;
        let kept = Arc::new(Kept::default());
        Hub::main().bind_client(Some(client(&kept)));
        let app = init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(report))
                .route("/sessions/{session}/a", web::get().to(fails))
                .route("/sessions/{session}/b", web::get().to(logs_and_fails))
                .route("/c", web::get().to(refuses)),
        )
        .await;
        for (path, status) in [
            ("/sessions/s-1/a?token=t", 500),
            ("/sessions/s-2/b", 500),
            ("/c", 503),
        ] {
            let res = call_service(&app, TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status().as_u16(), status);
        }
        Hub::main().bind_client(None);
        let events = kept.events();
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!(events[0].tags[tag::ROUTE], "/sessions/{session}/a");
        assert_eq!(events[0].tags[tag::SESSION], "s-1");
        assert_eq!(events[0].tags[tag::STATUS], "500");
        assert_eq!(events[1].message.as_deref(), Some("internal error"));
        assert_eq!(events[1].tags[tag::SESSION], "s-2");
    }

    #[actix_web::test]
    async fn a_panic_in_a_handler_is_one_event_with_its_route() {
        let _serial = SERIAL.lock().await;
        let kept = Arc::new(Kept::default());
        Hub::main().bind_client(Some(client(&kept)));
        let app = init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(report))
                .route("/sessions/{session}/p", web::get().to(panics)),
        )
        .await;
        let req = TestRequest::get().uri("/sessions/s-9/p").to_request();
        let outcome = actix_web::rt::spawn(async move {
            let _ = call_service(&app, req).await;
        })
        .await;
        Hub::main().bind_client(None);
        assert!(outcome.is_err_and(|e| e.is_panic()));
        let events = kept.events();
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(events[0].tags[tag::ROUTE], "/sessions/{session}/p");
        assert_eq!(events[0].tags[tag::SESSION], "s-9");
        assert_eq!(events[0].level, Level::Fatal);
    }
}
