//! The client address behind a trusted proxy (`REEL_TRUSTED_PROXIES`),
//! seen through what it changes: the per-address ingest connection limit
//! and the audit log; and health and metrics on their own listener
//! (`REEL_ADMIN_LISTEN`). Real `reel serve` processes over real sockets:
//! the test itself is the proxy, on 127.0.0.1.

use std::path::Path;
use std::time::{Duration, Instant};

use reel_protocol::accounts::AuditAction;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::*;

/// The per-address connection limit of these nodes.
const PER_IP: u64 = 2;

/// A node on `dir` allowing [`PER_IP`] connections per address, with
/// `trusted` as `REEL_TRUSTED_PROXIES` (unset when `None`); its site key
/// and admin token.
fn serve_proxied(
    dir: &Path,
    storage: &TestStorage,
    trusted: Option<&str>,
) -> (Proc, String, String) {
    let (site, token) = cli_site_and_token(dir, storage, "proxied");
    let config = dir.join("reel.toml");
    std::fs::write(
        &config,
        format!("[limits]\nconnections_per_ip = {PER_IP}\n"),
    )
    .unwrap();
    let mut serve = Proc::serve(dir, storage).env("REEL_CONFIG", &config);
    if let Some(t) = trusted {
        serve = serve.env("REEL_TRUSTED_PROXIES", t);
    }
    let key = site["site_key"].as_str().unwrap().to_string();
    (serve.start(), key, token)
}

/// An ingest connection with `X-Forwarded-For: xff`: open, or the status
/// it was refused with.
async fn connect_as(node: &Proc, key: &str, xff: &str) -> Result<Tracker, u16> {
    let mut req = node
        .ingest_url(key, "v-proxied")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-forwarded-for", xff.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(Tracker { ws }),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("connect failed: {e}"),
    }
}

/// Opens [`PER_IP`] connections as each of `addrs` (kept open in `open`).
async fn fill(node: &Proc, key: &str, addrs: &[&str], open: &mut Vec<Tracker>) {
    for (i, xff) in addrs.iter().enumerate() {
        let t = connect_as(node, key, xff)
            .await
            .unwrap_or_else(|s| panic!("connection {i} as {xff}: refused with {s}"));
        open.push(t);
    }
}

/// Creates a site with the admin token and `X-Forwarded-For: xff`; the
/// address its audit log entry shows.
async fn audited_address(node: &Proc, token: &str, xff: &str, name: &str) -> String {
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/api/v1/sites", node.base()))
        .bearer_auth(token)
        .header("x-forwarded-for", xff)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "create site: {}", res.status());
    let page: Value = http
        .get(format!("{}/api/v1/audit", node.base()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Newest first: the first `site_changed` is the site just made.
    let entry = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == AuditAction::SiteChanged.as_str())
        .unwrap_or_else(|| panic!("no site_changed entry in {page}"));
    assert_eq!(
        entry["target"].as_str().map(|t| t.starts_with("site:")),
        Some(true),
        "{entry}"
    );
    entry["ip"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn forwarded_addresses_are_limited_and_audited_behind_a_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let (node, key, token) = serve_proxied(dir.path(), &storage, Some("127.0.0.1/32"));
    let mut open = Vec::new();

    // 203.0.113.7 reaches its limit (a spoofed first entry changes
    // nothing: the proxy's entry is the rightmost).
    fill(
        &node,
        &key,
        &["203.0.113.7", "198.51.100.1, 203.0.113.7"],
        &mut open,
    )
    .await;
    assert_eq!(
        connect_as(&node, &key, "203.0.113.7").await.err(),
        Some(429)
    );
    // Another forwarded address still connects, through the same peer.
    fill(&node, &key, &["203.0.113.8"], &mut open).await;

    // IPv6: one limit per /64.
    fill(
        &node,
        &key,
        &["2001:db8:1:2::a", "2001:db8:1:2:ffff::b"],
        &mut open,
    )
    .await;
    assert_eq!(
        connect_as(&node, &key, "2001:db8:1:2::c").await.err(),
        Some(429),
        "a third address in the same /64"
    );
    fill(&node, &key, &["2001:db8:1:3::a"], &mut open).await;

    // The audit log shows the forwarded address.
    assert_eq!(
        audited_address(&node, &token, "203.0.113.7", "from a client").await,
        "203.0.113.7"
    );
    assert_eq!(
        audited_address(&node, &token, "2001:db8::7", "from a v6 client").await,
        "2001:db8::7"
    );
    // A malformed header: the peer.
    assert_eq!(
        audited_address(&node, &token, "203.0.113.7,,", "malformed").await,
        "127.0.0.1"
    );

    // Without an admin listener, health and metrics are on the main port.
    let limit = Duration::from_secs(10);
    assert_eq!(node.get("/readyz", limit).unwrap().0, 200);
    assert_eq!(node.get("/metrics", limit).unwrap().0, 200);
    drop(open);
}

#[tokio::test]
async fn forwarded_headers_are_ignored_without_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let (node, key, token) = serve_proxied(dir.path(), &storage, None);
    let mut open = Vec::new();
    // Each claims another address; all count against the peer.
    fill(&node, &key, &["203.0.113.7", "203.0.113.8"], &mut open).await;
    assert_eq!(
        connect_as(&node, &key, "203.0.113.9").await.err(),
        Some(429)
    );
    assert_eq!(
        audited_address(&node, &token, "203.0.113.7", "spoofed").await,
        "127.0.0.1"
    );
    drop(open);

    // A peer outside the trusted list is not believed either.
    let dir = tempfile::tempdir().unwrap();
    let (node, key, _) = serve_proxied(dir.path(), &storage, Some("10.0.0.0/8, fd00::/8"));
    let mut open = Vec::new();
    fill(&node, &key, &["203.0.113.7", "203.0.113.8"], &mut open).await;
    assert_eq!(
        connect_as(&node, &key, "203.0.113.9").await.err(),
        Some(429)
    );
}

#[test]
fn an_invalid_trusted_proxy_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reel"))
        .arg("serve")
        .env("REEL_DATA_DIR", dir.path())
        .env("REEL_LISTEN", "127.0.0.1:0")
        .env("REEL_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/33")
        .env("REEL_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("REEL_TRUSTED_PROXIES") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
}

/// `GET http://addr/path`: status and body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let res = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn health_and_metrics_on_the_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let admin = format!("127.0.0.1:{}", free_port());
    let mut node = Proc::serve(dir.path(), &storage)
        .env("REEL_ADMIN_LISTEN", &admin)
        .start_listening();
    // Ready on the admin port (the main port's /readyz is gone).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&admin, "/readyz").await;
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["status"], "ready", "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "not ready: {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, metrics) = get(&admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("reel_open_connections"), "{metrics}");
    assert_eq!(get(&admin, "/healthz").await.0, 200);
    // Nothing else on the admin port.
    assert_eq!(get(&admin, "/api/v1/sites").await.0, 404);
    assert_eq!(get(&admin, "/v1/ingest").await.0, 404);
    // The main port: /healthz stays, /readyz and /metrics are gone.
    assert_eq!(get(&node.addr, "/healthz").await.0, 200);
    assert_eq!(get(&node.addr, "/readyz").await.0, 404);
    assert_eq!(get(&node.addr, "/metrics").await.0, 404);
    // The node prints where it listens.
    let printed = format!("reel admin listening on http://{admin}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.output().contains(&printed) {
        assert!(Instant::now() < deadline, "{}", node.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGTERM stops both listeners.
    node.signal("-TERM");
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    assert!(std::net::TcpStream::connect(&admin).is_err());
}

/// The admin listener shares the node's state: `/readyz` there answers 503
/// while the node drains, and the listener stops with the node.
#[actix_web::test]
async fn the_admin_listener_follows_the_drain_and_stops_with_the_node() {
    let app = spawn_app_with(|c| c.admin_listen = Some("127.0.0.1:0".into())).await;
    let admin = app.node.admin_addr.expect("an admin address").to_string();
    assert_eq!(get(&admin, "/readyz").await.0, 200);
    app.node
        .state
        .phase
        .send_replace(reel::http::Phase::Draining);
    let (status, body) = get(&admin, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["phase"], "draining", "{v}");
    app.node.shutdown().await;
    assert!(std::net::TcpStream::connect(&admin).is_err());
}
