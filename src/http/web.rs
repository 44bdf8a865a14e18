//! The front end the node serves, cacheable by a CDN:
//! - `/t/loader.js`: the tiny snippet loader, short-cached (its content names
//!   the current bundle);
//! - `/t/tracker.<hash>.js`: the tracker bundle at a content-hashed URL,
//!   cached for a year, immutable;
//! - `/app/`: the dashboard (hashed assets immutable, `index.html` revalidated);
//! - `/demo/`: the demo shop with the snippet installed (`--demo` only),
//!   and its cart, `/demo/api/cart`, which always fails (a 500).

use std::path::PathBuf;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::config::WebConfig;

/// `Cache-Control` of content-hashed files.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of the loader: a CDN picks up a new bundle within this.
pub const LOADER_CACHE: &str = "public, max-age=300";
/// `Cache-Control` of pages that name hashed files.
pub const REVALIDATE: &str = "no-cache";
/// The line of a demo page replaced by the snippet.
pub const SNIPPET_PLACEHOLDER: &str = "<!-- REEL_SNIPPET -->";

/// The front end as loaded at start.
pub struct WebAssets {
    /// The tracker bundle and the first 16 hex digits of its SHA-256.
    pub tracker: Option<(String, Bytes)>,
    pub dashboard_dir: PathBuf,
    pub demo_dir: PathBuf,
    /// The demo site's key, when the node serves the demo.
    pub demo_site_key: Option<String>,
}

impl WebAssets {
    /// Reads the tracker bundle; a missing front end is logged, not fatal
    /// (ingest and the API work without it).
    pub fn load(config: &WebConfig, demo_site_key: Option<String>) -> WebAssets {
        let tracker = match std::fs::read(&config.tracker_bundle) {
            Ok(bytes) => {
                let digest = Sha256::digest(&bytes);
                let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                Some((hash, Bytes::from(bytes)))
            }
            Err(e) => {
                tracing::warn!(path = %config.tracker_bundle.display(), error = %e, "no tracker bundle; build it with `npm run build` in tracker/");
                None
            }
        };
        if !config.dashboard_dir.join("index.html").exists() {
            tracing::warn!(path = %config.dashboard_dir.display(), "no dashboard build; build it with `npm run build` in dashboard/");
        }
        WebAssets {
            tracker,
            dashboard_dir: config.dashboard_dir.clone(),
            demo_dir: config.demo_dir.clone(),
            demo_site_key,
        }
    }

    /// Path of the current tracker bundle.
    pub fn tracker_path(&self) -> Option<String> {
        self.tracker
            .as_ref()
            .map(|(hash, _)| format!("/t/tracker.{hash}.js"))
    }
}

/// The loader: finds its own origin from its `src`, sets the config the
/// bundle reads, queues `reel.identify`, `reel.track`, `reel.optOut` and `reel.optIn`
/// calls until the bundle runs, and
/// loads the bundle.
fn loader_js(bundle: &str) -> String {
    format!(
        r#"(function(){{var s=document.currentScript;if(!s)return;var src=s.src,base=src.slice(0,src.lastIndexOf("/t/"));window.__reelConfig={{site:s.getAttribute("data-site"),endpoint:base.replace(/^http/,"ws")+"/v1/ingest",honorDnt:s.hasAttribute("data-honor-dnt")}};var r=window.reel=window.reel||{{q:[]}};r.q=r.q||[];r.identify=r.identify||function(){{r.q.push(["identify"].concat([].slice.call(arguments)))}};r.track=r.track||function(){{r.q.push(["track"].concat([].slice.call(arguments)))}};r.optOut=r.optOut||function(){{r.q.push(["optOut"])}};r.optIn=r.optIn||function(){{r.q.push(["optIn"])}};var t=document.createElement("script");t.async=true;t.src=base+"{bundle}";(document.head||document.documentElement).appendChild(t)}})();"#
    )
}

/// The install snippet of a site: the loader from `base` (`https://HOST`,
/// or empty for this page's origin) with the site's public key. The demo
/// pages and `GET /api/v1/sites/{id}/snippet` both use it. A site that
/// honours Do-Not-Track gets `data-honor-dnt`, so that a browser sending
/// it is left alone from its first page on (PROTOCOL.md §6).
pub fn snippet_html(base: &str, site_key: &str, honor_dnt: bool) -> String {
    format!(
        r#"<script async src="{}/t/loader.js" data-site="{}"{}></script>"#,
        attr_escape(base),
        attr_escape(site_key),
        if honor_dnt { " data-honor-dnt" } else { "" }
    )
}

/// `s` fit for a double-quoted HTML attribute.
fn attr_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /t/loader.js`.
pub async fn loader(state: web::Data<AppState>) -> HttpResponse {
    match state.web.tracker_path() {
        Some(path) => HttpResponse::Ok()
            .content_type("application/javascript; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, LOADER_CACHE))
            .body(loader_js(&path)),
        None => HttpResponse::ServiceUnavailable()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body("the tracker bundle is not built"),
    }
}

/// `GET /t/tracker.{hash}.js`: only the current hash exists.
pub async fn tracker(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    match &state.web.tracker {
        Some((hash, bytes)) if path.as_str() == format!("tracker.{hash}.js") => HttpResponse::Ok()
            .content_type("application/javascript; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, IMMUTABLE))
            .body(bytes.clone()),
        _ => HttpResponse::NotFound().finish(),
    }
}

/// `GET /demo/{page}`: a demo shop page with the snippet installed.
pub async fn demo(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let Some(key) = &state.web.demo_site_key else {
        return HttpResponse::NotFound().body("the demo is off: run `reel serve --demo`");
    };
    let name = path.into_inner();
    let name = if name.is_empty() {
        "index.html".to_string()
    } else {
        name
    };
    if !name.ends_with(".html") || name.contains('/') || name.starts_with('.') {
        return HttpResponse::NotFound().finish();
    }
    match tokio::fs::read_to_string(state.web.demo_dir.join(&name)).await {
        Ok(page) => {
            let snippet = snippet_html("", key, false);
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, REVALIDATE))
                .body(page.replace(SNIPPET_PLACEHOLDER, &snippet))
        }
        Err(_) => HttpResponse::NotFound().finish(),
    }
}

/// What the demo shop's cart answers: it fails on purpose, so that a
/// newcomer's first replay has a failed request to find (PROTOCOL.md §7).
pub const DEMO_CART_DOWN: &str =
    "the demo shop's cart is down on purpose: a failed request to find in the replay";

/// `/demo/api/cart` (any method): the demo shop's cart, which always
/// fails with a 500 and a small JSON error (404 when the demo is off).
/// Not an [`super::ApiError`]: the node did not fail, and its error
/// metrics and logs stay clean.
pub async fn demo_cart(state: web::Data<AppState>) -> HttpResponse {
    if state.web.demo_site_key.is_none() {
        return HttpResponse::NotFound().body("the demo is off: run `reel serve --demo`");
    }
    HttpResponse::InternalServerError()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(reel_protocol::error::ErrorBody {
            error: reel_protocol::error::ErrorCode::Internal,
            message: DEMO_CART_DOWN.to_owned(),
        })
}

/// True for a file name carrying an esbuild content hash (`name-HASH.ext`).
pub fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() >= 8 && h.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Sets `Cache-Control` on the dashboard's files: immutable when hashed.
pub async fn cache_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hashed = is_hashed(req.path());
    let mut res = next.call(req).await?;
    if res.status().is_success() {
        let value = if hashed { IMMUTABLE } else { REVALIDATE };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("/app/app-4XKQ2ZTB.js"));
        assert!(is_hashed("app-4XKQ2ZTB.css"));
        assert!(!is_hashed("/app/index.html"));
        assert!(!is_hashed("/app/rrweb-player.js"));
    }

    #[test]
    fn the_snippet_escapes_what_it_quotes() {
        assert_eq!(
            snippet_html("", "site_k", false),
            r#"<script async src="/t/loader.js" data-site="site_k"></script>"#
        );
        assert_eq!(
            snippet_html(r#"https://a"><x"#, "k&", false),
            r#"<script async src="https://a&quot;&gt;&lt;x/t/loader.js" data-site="k&amp;"></script>"#
        );
        assert_eq!(
            snippet_html("", "k", true),
            r#"<script async src="/t/loader.js" data-site="k" data-honor-dnt></script>"#
        );
    }
}
