//! Test harness: a real node on port 0 with a fresh data dir and migrated
//! index, a real WebSocket tracker client, and an API client.
//!
//! The suite is written once and runs on either storage: the embedded
//! defaults (SQLite and the local blob directory), or, with
//! `REEL_TEST_STORAGE=postgres-s3`, Postgres (a fresh database per node, on
//! the server at `REEL_TEST_POSTGRES_URL`) and S3 (a fresh bucket per node,
//! at `REEL_TEST_S3_ENDPOINT`, through the real AWS SDK).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reel::app::{open_index, Node};
use reel::config::Config;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a test waits for any one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

pub fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,reel=debug")
            .try_init();
    }
}

/// The Postgres server the Postgres runs use, as an administrator.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The S3-compatible server the S3 runs use (`scripts/s3-server` starts one).
pub const DEFAULT_S3_ENDPOINT: &str = "http://127.0.0.1:4566";

/// Does this run use Postgres and S3?
pub fn on_postgres_s3() -> bool {
    match std::env::var("REEL_TEST_STORAGE").as_deref() {
        Ok("postgres-s3") => true,
        Ok("embedded") | Err(_) => false,
        Ok(other) => panic!("REEL_TEST_STORAGE must be embedded or postgres-s3, not {other:?}"),
    }
}

/// One node's storage: nothing to set up on the embedded defaults; a
/// fresh Postgres database and S3 bucket otherwise, the database dropped
/// when this is.
pub struct TestStorage {
    /// `(admin URL, database name)` of the database to drop.
    database: Option<(String, String)>,
    database_url: Option<String>,
    bucket: Option<String>,
    endpoint: String,
}

impl TestStorage {
    /// The storage this run uses.
    pub async fn new() -> TestStorage {
        if on_postgres_s3() {
            TestStorage::postgres_s3().await
        } else {
            TestStorage::embedded()
        }
    }

    pub fn embedded() -> TestStorage {
        TestStorage {
            database: None,
            database_url: None,
            bucket: None,
            endpoint: String::new(),
        }
    }

    /// A fresh database on the test Postgres server and a fresh bucket.
    pub async fn postgres_s3() -> TestStorage {
        use sqlx::Connection;
        let admin =
            std::env::var("REEL_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        let id = reel_actors::sessions::new_id(12).to_lowercase();
        let name = format!("reel_test_{id}");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("Postgres at {admin} (REEL_TEST_POSTGRES_URL): {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let (base, _) = admin.rsplit_once('/').unwrap();
        aws_test_credentials();
        TestStorage {
            database_url: Some(format!("{base}/{name}")),
            database: Some((admin, name)),
            bucket: Some(format!("reel-test-{id}")),
            endpoint: std::env::var("REEL_TEST_S3_ENDPOINT")
                .unwrap_or_else(|_| DEFAULT_S3_ENDPOINT.into()),
        }
    }

    /// Points `config` at this storage.
    pub fn apply(&self, config: &mut Config) {
        if let Some(url) = &self.database_url {
            config.database_url = Some(reel::config::Secret::new(url.clone()));
        }
        if let Some(bucket) = &self.bucket {
            config.s3.bucket = Some(bucket.clone());
            config.s3.endpoint = Some(self.endpoint.clone());
            config.s3.create_bucket = true;
        }
    }

    /// The same, as environment variables of a `reel` child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(url) = &self.database_url {
            env.push(("REEL_DATABASE_URL", url.clone()));
        }
        if let Some(bucket) = &self.bucket {
            env.push(("REEL_S3_BUCKET", bucket.clone()));
            env.push(("REEL_S3_ENDPOINT", self.endpoint.clone()));
            env.push(("REEL_S3_CREATE_BUCKET", "1".into()));
        }
        env
    }
}

impl Drop for TestStorage {
    fn drop(&mut self) {
        let Some((admin, name)) = self.database.take() else {
            return;
        };
        // Off any runtime the test may be on.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The S3-compatible test server takes any credentials; the AWS SDK wants
/// some. Set once, before any node starts, when the environment has none.
pub fn aws_test_credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        }
    });
}

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
    #[allow(dead_code)]
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
        .create_token("default", "test", "admin")
        .await
        .unwrap();
    index.close().await;
    (site_id, site_key, token)
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
    let mut node = Node::start(config).await.unwrap();
    actix_web::rt::spawn(node.take_server().unwrap());
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

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(path, &self.token).await
    }

    /// GET `path` with another token.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
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

    /// Waits (polling the API, bounded) until `cond` holds for the session.
    pub async fn wait_session(
        &self,
        session: &str,
        what: &str,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        loop {
            let v = self.get_json(&format!("/api/v1/sessions/{session}")).await;
            if cond(&v) {
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

/// Why a connection attempt was refused before the upgrade.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

/// A tracker speaking PROTOCOL.md §1 over a real WebSocket.
pub struct Tracker {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Tracker {
    pub async fn connect(url: &str, origin: Option<&str>) -> Result<Tracker, Refused> {
        let mut req = url.into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Tracker { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                let status = res.status().as_u16();
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let body = res
                    .body()
                    .as_ref()
                    .map(|b| serde_json::from_slice(b).unwrap())
                    .unwrap_or(Value::Null);
                Err(Refused {
                    status,
                    body,
                    retry_after,
                })
            }
            Err(e) => panic!("connect failed: {e}"),
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(v.to_string()).await;
    }

    /// Says hello; returns the `welcome`.
    pub async fn hello(
        &mut self,
        visitor: &str,
        session: Option<&str>,
        tab: &str,
        acked: Option<u64>,
    ) -> Value {
        self.send_json(&hello(visitor, session, tab, acked)).await;
        let w = self.recv().await;
        assert_eq!(w["t"], "welcome", "{w}");
        w
    }

    /// Sends batch `seq` of raw event JSON strings.
    pub async fn send_batch(&mut self, seq: u64, events: &[String]) {
        self.send_text(batch_json(seq, events)).await;
    }

    /// The next server message (pings are answered by the library).
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(REPLY_TIMEOUT, self.ws.next())
                .await
                .expect("no reply in time")
                .expect("connection ended")
                .expect("connection failed");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    pub async fn expect_ack(&mut self, seq: u64) {
        let m = self.recv().await;
        assert_eq!(m, json!({"t": "ack", "seq": seq}));
    }

    /// Sends a batch and waits for its ack.
    pub async fn batch_acked(&mut self, seq: u64, events: &[String]) {
        self.send_batch(seq, events).await;
        self.expect_ack(seq).await;
    }

    /// Sends `end`; waits for the ack of `last_seq`.
    pub async fn end(&mut self, last_seq: u64) {
        self.send_json(&json!({"t": "end"})).await;
        self.expect_ack(last_seq).await;
    }

    /// Expects `error` with `code`, then a close with `close_code`
    /// (acks that were owed may come first).
    pub async fn expect_error_close(&mut self, code: &str, close_code: u16) -> Value {
        let mut error = Value::Null;
        loop {
            let msg = tokio::time::timeout(REPLY_TIMEOUT, self.ws.next())
                .await
                .expect("no close in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["t"] == "error" {
                        assert_eq!(v["code"], code, "{v}");
                        error = v;
                    } else {
                        assert_eq!(v["t"], "ack", "unexpected {v}");
                    }
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    // Send the close reply now (the library queues it).
                    let _ = self.ws.flush().await;
                    assert_eq!(
                        frame.code,
                        CloseCode::from(close_code),
                        "close {frame:?} after {error}"
                    );
                    assert!(
                        !error.is_null(),
                        "closed with {close_code} without an error message"
                    );
                    return error;
                }
                Some(Ok(Message::Close(None))) => panic!("closed without a code"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("connection failed before close: {e}"),
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Drain until the server's close arrives.
        while let Ok(Some(Ok(_))) =
            tokio::time::timeout(Duration::from_secs(2), self.ws.next()).await
        {}
    }
}

pub fn hello(visitor: &str, session: Option<&str>, tab: &str, acked: Option<u64>) -> Value {
    json!({
        "t": "hello", "v": 1, "visitor": visitor, "session": session, "tab": tab, "acked": acked,
        "page": {"url": "https://shop.example/", "referrer": "", "title": "Shop"},
        "screen": {"w": 1280, "h": 720}, "lang": "en", "tz": "UTC"
    })
}

pub fn batch_json(seq: u64, events: &[String]) -> String {
    format!(
        r#"{{"t":"events","seq":{seq},"events":[{}]}}"#,
        events.join(",")
    )
}

/// rrweb-shaped events, written by hand so that odd but valid JSON
/// (spaces, escapes, key order) checks byte-for-byte storage.
pub mod ev {
    pub fn meta(ts: i64, href: &str) -> String {
        format!(
            r#"{{"type":4,"data":{{"href":"{href}","width":1280,"height":720}},"timestamp":{ts}}}"#
        )
    }
    pub fn full_snapshot(ts: i64, text: &str) -> String {
        format!(
            r#"{{"type":2,"data":{{"node":{{"type":0,"childNodes":[{{"type":2,"tagName":"html","attributes":{{}},"childNodes":[{{"type":3,"textContent":"{text} \u00e9\n","id":3}}],"id":2}}],"id":1}},"initialOffset":{{"left":0,"top":0}}}},"timestamp":{ts}}}"#
        )
    }
    pub fn click(ts: i64, id: u32) -> String {
        format!(
            r#"{{"type":3, "data":{{"source":2,"type":2,"id":{id},"x":10.5,"y":20}},"timestamp":{ts}}}"#
        )
    }
    pub fn input(ts: i64, id: u32, text: &str) -> String {
        format!(
            r#"{{"timestamp":{ts},"type":3,"data":{{"source":5,"text":"{text}","isChecked":false,"id":{id}}}}}"#
        )
    }
    pub fn mouse_move(ts: i64) -> String {
        format!(
            r#"{{"type":3,"data":{{"source":1,"positions":[{{"x":1,"y":2,"id":4,"timeOffset":-10}}]}},"timestamp":{ts}}}"#
        )
    }
    pub fn console_error(ts: i64) -> String {
        format!(
            r#"{{"type":6,"data":{{"plugin":"rrweb/console@1","payload":{{"level":"error","trace":["at x"],"payload":["\"boom\""]}}}},"timestamp":{ts}}}"#
        )
    }
}

/// NDJSON of events: one per line.
pub fn ndjson(events: &[String]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// Timestamps of NDJSON lines.
pub fn timestamps(ndjson: &str) -> Vec<i64> {
    ndjson
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["timestamp"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

/// Counts of each line, to check that nothing is stored twice.
pub fn line_counts(ndjson: &str) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for l in ndjson.lines() {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}
