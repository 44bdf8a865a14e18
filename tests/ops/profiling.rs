//! Profiling API calls (docs/operations.md, "Slow requests and traces"):
//! the slow-request log line of a real node, read from its standard error,
//! and its OTLP traces, received by a collector stand-in on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// The events route as the slow-request line and the spans name it.
const EVENTS_ROUTE: &str = "/api/v1/sessions/{session}/events";
/// A query parameter the events route ignores, whose value must reach
/// neither a log line's route nor a span.
const QUERY_MARKER: &str = "probe=query-marker-5d1e";
/// A cookie sent with the traced request, which must reach no span.
const COOKIE_MARKER: &str = "cookie-marker-93ab";
/// How long a line or an export may take to arrive.
const ARRIVAL: Duration = Duration::from_secs(10);

/// A node's data dir with one ended, stored session recorded through a
/// real tracker; its session id and an admin token.
async fn recorded(dir: &Path, storage: &TestStorage) -> (String, String) {
    let (site, token) = cli_site_and_token(dir, storage, "profiling");
    let key = site["site_key"].as_str().unwrap().to_string();
    let node = Proc::serve(dir, storage).start();
    let api = Api::new(node.base(), &token);
    let (mut t, session) = Tracker::open(&node.ingest_url(&key, "v-prof"), "v-prof").await;
    t.batch_acked(
        0,
        &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
    )
    .await;
    t.batch_acked(1, &[ev::click(T0 + 2, 2), ev::click(T0 + 3, 3)])
        .await;
    t.end(1).await;
    let deadline = Instant::now() + ARRIVAL;
    while api.json(&format!("/api/v1/sessions/{session}")).await["segments"] == 0 {
        assert!(Instant::now() < deadline, "no segment of {session}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    drop(node);
    (session, token)
}

/// The path of the events of `session`, with a query string.
fn events_path(session: &str) -> String {
    format!("/api/v1/sessions/{session}/events?t=0&{QUERY_MARKER}")
}

/// The node's JSON log lines that say `slow request` for `route`.
fn slow_lines(output: &str, route: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "slow request" && l["fields"]["route"] == route)
        .collect()
}

/// A request to the events route slower than 1 ms gives one WARN line with
/// its route pattern (never the path or query), status, total time and the
/// index and blob calls it made, and counts in the slow-request metric; at
/// a 60 s threshold the same requests give none.
#[actix_web::test]
async fn a_slow_request_logs_where_its_time_went() {
    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (session, token) = recorded(dir.path(), &storage).await;

    let node = Proc::serve(dir.path(), &storage)
        .env("REEL_SLOW_REQUEST_MS", "1")
        .env("REEL_LOG_FORMAT", "json")
        .start_capturing();
    let api = Api::new(node.base(), &token);
    // A real read of a session's events crosses 1 ms; each request is
    // whole (its body read) before the log is looked at, and the line may
    // follow the body's end by a moment: wait for it with a deadline.
    let deadline = Instant::now() + ARRIVAL;
    let line = loop {
        let res = api.get(&events_path(&session)).await;
        assert_eq!(res.status(), 200);
        assert!(!res.text().await.unwrap().is_empty());
        if let Some(l) = slow_lines(&node.output(), EVENTS_ROUTE).pop() {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no slow-request line for {EVENTS_ROUTE}:\n{}",
            node.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(line["level"], "WARN", "{line}");
    let f = &line["fields"];
    assert_eq!(f["method"], "GET", "{line}");
    assert_eq!(f["status"], 200, "{line}");
    assert_eq!(f["session_id"], session.as_str(), "{line}");
    assert!(f["site_id"].is_string(), "the session's site: {line}");
    assert_eq!(f["threshold_ms"], 1, "{line}");
    let num = |k: &str| {
        f[k].as_f64()
            .unwrap_or_else(|| panic!("{k} is a number: {line}"))
    };
    let total = num("total_ms");
    assert!(total >= 1.0, "{line}");
    // The token's look-up, the session's row, the audit entry and its
    // segments: index calls; the segments' objects: blob calls.
    assert!(num("index_calls") >= 2.0, "{line}");
    assert!(num("blob_calls") >= 1.0, "{line}");
    let (index_ms, blob_ms) = (num("index_ms"), num("blob_ms"));
    assert!(index_ms > 0.0 && blob_ms > 0.0, "{line}");
    // The calls run one after the other within the request.
    assert!(index_ms + blob_ms <= total, "{line}");
    let raw = line.to_string();
    assert!(!raw.contains("query-marker"), "no query string: {raw}");
    assert!(!raw.contains(&token), "no token: {raw}");

    let metrics = api.text("/metrics").await;
    let counted = metrics
        .lines()
        .find(|l| {
            l.starts_with("reel_http_slow_requests_total{")
                && l.contains(&format!("route=\"{EVENTS_ROUTE}\""))
        })
        .unwrap_or_else(|| panic!("no slow-request counter:\n{metrics}"));
    let n: f64 = counted.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1.0, "{counted}");
    let requests = slow_lines(&node.output(), EVENTS_ROUTE).len();
    drop(node.stop_and_output());

    // The same requests under a 60 s threshold: no line.
    let node = Proc::serve(dir.path(), &storage)
        .env("REEL_SLOW_REQUEST_MS", "60000")
        .env("REEL_LOG_FORMAT", "json")
        .start_capturing();
    let api = Api::new(node.base(), &token);
    for _ in 0..requests.max(3) {
        let res = api.get(&events_path(&session)).await;
        assert_eq!(res.status(), 200);
        res.text().await.unwrap();
    }
    let output = node.stop_and_output();
    assert!(output.contains("reel listening"), "output captured");
    assert!(
        !output.contains("slow request"),
        "a slow-request line under a 60 s threshold:\n{output}"
    );
}

/// What the collector stand-in received: method, path and body.
type Received = Vec<(String, String, Vec<u8>)>;

/// A collector stand-in: an HTTP/1.1 server on 127.0.0.1 that records every
/// request (method, path, body) and answers `200 {}`.
struct Collector {
    addr: SocketAddr,
    requests: Arc<Mutex<Received>>,
    connections: Arc<AtomicUsize>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (got, count) = (requests.clone(), connections.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let got = got.clone();
                std::thread::spawn(move || serve_collector(conn, &got));
            }
        });
        Collector {
            addr,
            requests,
            connections,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Received {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves one connection's requests (keep-alive) until it closes.
fn serve_collector(conn: TcpStream, got: &Mutex<Received>) {
    let mut out = conn.try_clone().unwrap();
    let mut conn = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if !matches!(conn.read_line(&mut line), Ok(n) if n > 0) {
            return;
        }
        let mut words = line.split_whitespace();
        let (method, path) = (
            words.next().unwrap_or("").to_string(),
            words.next().unwrap_or("").to_string(),
        );
        let mut length = 0;
        loop {
            let mut header = String::new();
            if !matches!(conn.read_line(&mut header), Ok(n) if n > 0) {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "transfer-encoding" => panic!("the stand-in reads sized bodies only: {header}"),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if conn.read_exact(&mut body).is_err() {
            return;
        }
        got.lock().unwrap().push((method, path, body));
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The string form of an OTLP JSON attribute's value (`intValue`s are strings).
fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a str> {
    attrs
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .and_then(|a| {
            let v = &a["value"];
            v["stringValue"].as_str().or_else(|| v["intValue"].as_str())
        })
}

/// With `REEL_OTLP_ENDPOINT` unset a node sends nothing anywhere; with it
/// set (and the log at WARN), the request to the events route reaches the
/// collector, by the shutdown's flush at the latest, as a server span named
/// by its route pattern with service `reel` and the node's id, with index
/// and blob calls as its children, and with no query string, cookie or
/// token anywhere in what was sent.
#[actix_web::test]
async fn traces_reach_an_otlp_collector_only_when_configured() {
    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (session, token) = recorded(dir.path(), &storage).await;
    let http = reqwest::Client::new();
    let traced_request = |base: String| {
        let req = http
            .get(format!("{base}{}", events_path(&session)))
            .bearer_auth(&token)
            .header("cookie", format!("reel_session={COOKIE_MARKER}"));
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.text().await.unwrap();
        }
    };

    // Off by default: the stand-in hears nothing.
    let collector = Collector::start();
    let node = Proc::serve(dir.path(), &storage)
        .env("REEL_NODE_ID", "ops-untraced")
        .start();
    traced_request(node.base()).await;
    drop(node.stop_and_output());
    assert_eq!(
        collector.connections.load(Ordering::SeqCst),
        0,
        "a node without REEL_OTLP_ENDPOINT connected to the collector"
    );

    let node = Proc::serve(dir.path(), &storage)
        .env("REEL_OTLP_ENDPOINT", collector.endpoint())
        .env("REEL_NODE_ID", "ops-traced")
        .env("REEL_LOG", "warn")
        .start();
    traced_request(node.base()).await;
    let output = node.stop_and_output();
    let requests = collector.requests();
    assert!(
        !requests.is_empty(),
        "nothing reached the collector by the end of the shutdown:\n{output}"
    );
    let mut spans = Vec::new();
    for (method, path, body) in &requests {
        assert_eq!((method.as_str(), path.as_str()), ("POST", "/v1/traces"));
        let raw = String::from_utf8_lossy(body);
        for secret in ["query-marker", COOKIE_MARKER, token.as_str(), "?t="] {
            assert!(!raw.contains(secret), "{secret:?} reached the collector");
        }
        let export: Value = serde_json::from_slice(body).expect("an http/json export");
        for rs in export["resourceSpans"].as_array().unwrap() {
            let resource = &rs["resource"]["attributes"];
            assert_eq!(attr(resource, "service.name"), Some("reel"), "{rs}");
            assert_eq!(
                attr(resource, "service.instance.id"),
                Some("ops-traced"),
                "{rs}"
            );
            for ss in rs["scopeSpans"].as_array().unwrap() {
                spans.extend(ss["spans"].as_array().unwrap().iter().cloned());
            }
        }
    }
    let name = format!("GET {EVENTS_ROUTE}");
    let request = spans
        .iter()
        .find(|s| s["name"] == name.as_str())
        .unwrap_or_else(|| panic!("no span {name:?} in {spans:#?}"));
    assert_eq!(request["kind"], 2, "a server span: {request}");
    let attrs = &request["attributes"];
    assert_eq!(attr(attrs, "http.route"), Some(EVENTS_ROUTE), "{request}");
    assert_eq!(attr(attrs, "http.request.method"), Some("GET"), "{request}");
    assert_eq!(
        attr(attrs, "http.response.status_code"),
        Some("200"),
        "{request}"
    );
    let children: Vec<&Value> = spans
        .iter()
        .filter(|s| s["parentSpanId"] == request["spanId"] && s["traceId"] == request["traceId"])
        .collect();
    let child_named = |prefix: &str| {
        children
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no {prefix:?} child of {name:?}: {children:#?}"))
    };
    let index = child_named("index ");
    assert_eq!(index["kind"], 3, "a client span: {index}");
    assert_eq!(attr(&index["attributes"], "reel.store"), Some("index"));
    assert_eq!(
        attr(&child_named("blob ")["attributes"], "reel.store"),
        Some("blob")
    );
}
