//! A real node in the test's process: port 0, a fresh data dir and a
//! migrated index, a site and an admin token.

use std::time::Duration;

use reel::app::{open_index, Node};
use reel::config::Config;
use serde_json::Value;
use tempfile::TempDir;

use super::http::Api;
use super::init_logs;
use super::storage::TestStorage;
use super::tracker::{Tracker, REPLY_TIMEOUT};

pub struct TestNode {
    pub node: Node,
    pub base: String,
    pub ws_base: String,
    pub site_key: String,
    pub site_id: i64,
    pub token: String,
    pub dir: TempDir,
    pub http: reqwest::Client,
    /// Dropped after the node (fields drop in order): held for its `Drop`.
    pub storage: TestStorage,
}

/// A config for a test node in `dir`, listening on port 0.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        workers: Some(2),
        sweep_interval_ms: 100,
        ..Config::default()
    };
    config.shutdown.deadline_ms = 10_000;
    config
}

/// Creates a site (with `origins`) and an admin token in the node's index.
pub async fn bootstrap(config: &Config, origins: &[String]) -> (i64, String, String) {
    let index = open_index(config).await.unwrap();
    index.migrate().await.unwrap();
    let (site_id, site_key) = index
        .create_site("default", "test site", origins)
        .await
        .unwrap();
    let token = index
        .create_token("default", "test", "admin", None)
        .await
        .unwrap()
        .1;
    index.close().await;
    (site_id, site_key, token)
}

/// Starts a node on `config`, its server on the test's runtime.
pub async fn start_node(config: Config) -> Node {
    let mut node = Node::start(config).await.unwrap();
    actix_web::rt::spawn(node.take_server().unwrap());
    node
}

pub async fn spawn_app() -> TestNode {
    spawn_app_with(|_| {}).await
}

/// Starts a node whose config `f` adjusts, with a site allowing
/// `https://shop.example` and an admin token.
pub async fn spawn_app_with(f: impl FnOnce(&mut Config)) -> TestNode {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let mut config = test_config(dir.path());
    storage.apply(&mut config);
    f(&mut config);
    let (site_id, site_key, token) =
        bootstrap(&config, &["https://shop.example".to_string()]).await;
    let node = start_node(config).await;
    let addr = node.addr;
    TestNode {
        node,
        base: format!("http://{addr}"),
        ws_base: format!("ws://{addr}"),
        site_key,
        site_id,
        token,
        dir,
        http: reqwest::Client::new(),
        storage,
    }
}

impl TestNode {
    pub fn ingest_url(&self, visitor: &str) -> String {
        format!(
            "{}/v1/ingest?site={}&visitor={visitor}",
            self.ws_base, self.site_key
        )
    }

    /// A tracker connection from the allowed origin.
    pub async fn tracker(&self, visitor: &str) -> Tracker {
        Tracker::connect(&self.ingest_url(visitor), Some("https://shop.example"))
            .await
            .unwrap()
    }

    /// The node's API, with the admin token.
    pub fn api(&self) -> Api {
        Api {
            http: self.http.clone(),
            base: self.base.clone(),
            token: self.token.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.api().get(path).await
    }

    /// GET `path` with another token.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.api().get_as(path, token).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.api().json(path).await
    }

    pub async fn events(&self, session: &str, tab: Option<&str>) -> String {
        let path = match tab {
            Some(t) => format!("/api/v1/sessions/{session}/events?tab={t}"),
            None => format!("/api/v1/sessions/{session}/events"),
        };
        let res = self.get(&path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        assert_eq!(res.headers()["content-type"], "application/x-ndjson");
        res.text().await.unwrap()
    }

    /// Waits (polling the API, bounded) until `cond` holds for the session;
    /// a session not in the index yet (404: its row is queued) is waited for.
    pub async fn wait_session(
        &self,
        session: &str,
        what: &str,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/api/v1/sessions/{session}");
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        loop {
            let res = self.get(&path).await;
            let v = if res.status() == 404 {
                Value::Null
            } else {
                assert!(res.status().is_success(), "GET {path}: {}", res.status());
                res.json().await.unwrap()
            };
            if !v.is_null() && cond(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
