//! Browser hardening (PROTOCOL.md §5): every response of the dashboard and
//! the API carries a Content-Security-Policy and `X-Content-Type-Options:
//! nosniff`. The demo shop (`/demo/`) is a stand-in for a customer's site
//! with the snippet inlined: it gets `nosniff` only.
//!
//! What the policy allows, and why:
//! - `script-src 'self'`: the dashboard's bundle; nothing inline, nothing
//!   from elsewhere. A replayed page never runs: rrweb renders it in an
//!   iframe sandboxed without `allow-scripts` (and that iframe, an
//!   `about:blank` of this origin, inherits this very policy).
//! - `style-src 'self' 'unsafe-inline' https:`: rrweb-player styles its
//!   controls inline, and a replayed page's CSS is rebuilt as inline
//!   `<style>` (or linked from its https origin).
//! - `img-src`, `font-src`, `media-src` `'self' data: blob: https:`: a
//!   replayed page's images, fonts and media, from wherever it had them.
//! - `connect-src 'self'`: the API and `/v1/live` on this origin.
//! - `frame-ancestors 'none'`: nobody frames the dashboard (clickjacking).
//! - `object-src 'none'`, `base-uri 'self'`, `form-action 'self'`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

/// The dashboard's and the API's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline' https:; img-src 'self' data: blob: https:; \
    font-src 'self' data: https:; media-src 'self' data: blob: https:; \
    connect-src 'self'; worker-src 'self' blob:; frame-src 'self'; \
    frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'";

/// Paths served without the policy: the demo shop (a customer's page).
const WITHOUT_POLICY: &str = "/demo";

/// Adds the hardening headers to every response.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let with_policy = !req.path().starts_with(WITHOUT_POLICY);
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    if with_policy {
        headers.insert(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    Ok(res)
}
