//! Secrets never leave the node (docs/operations.md, "Secrets"): a node is
//! run with known, unique secret values (a Postgres password, S3 keys, a
//! Redis password, a Sentry DSN; some through `*_FILE` variables) at log
//! level `debug`, through its normal paths and its failure paths, and
//! everything it printed and every body of `/readyz`, `/metrics` and
//! `/healthz` is scanned for those values and their pieces.
//!
//! Needs Postgres, the S3-compatible server (`scripts/services`) and
//! `redis-server`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// How long a node may take to report a dependency's change of state.
const REPORT_WITHIN: Duration = Duration::from_secs(30);

/// The secret values of one run, unique to it.
struct Secrets {
    pg_password: String,
    redis_password: String,
    s3_key_id: String,
    s3_secret: String,
    sentry_key: String,
}

impl Secrets {
    fn new() -> Secrets {
        let id = || reel_actors::sessions::new_id(16);
        Secrets {
            pg_password: format!("pg-secret-{}", id()),
            redis_password: format!("redis-secret-{}", id()),
            s3_key_id: format!("AKIDSECRET{}", id().to_uppercase()),
            s3_secret: format!("s3-secret-{}", id()),
            // A Sentry public key is 32 hex digits.
            sentry_key: format!("{:032x}", rand::random::<u128>()),
        }
    }

    /// What must appear nowhere: each value, alone (the password alone, a
    /// key alone), and each whole URL it is part of.
    fn needles(&self, urls: &[String]) -> Vec<String> {
        let mut needles = vec![
            self.pg_password.clone(),
            self.redis_password.clone(),
            self.s3_key_id.clone(),
            self.s3_secret.clone(),
            self.sentry_key.clone(),
        ];
        needles.extend(urls.iter().cloned());
        needles
    }
}

/// The needles found in `text`.
fn leaks<'a>(text: &str, needles: &'a [String]) -> Vec<&'a str> {
    needles
        .iter()
        .filter(|n| text.contains(n.as_str()))
        .map(String::as_str)
        .collect()
}

/// What a run printed or served, for the scan, each piece with where it
/// came from.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, from: impl Into<String>, text: impl Into<String>) {
        self.0.push((from.into(), text.into()));
    }

    /// Panics naming every place a needle appears.
    fn assert_clean(&self, needles: &[String]) {
        let found: Vec<String> = self
            .0
            .iter()
            .flat_map(|(from, text)| {
                leaks(text, needles).into_iter().map(move |n| {
                    // Where it is on its line, and the line's start and end
                    // (a log line's message and target), to find what printed it.
                    let line = text.lines().find(|l| l.contains(n)).unwrap_or_default();
                    let at = line.find(n).unwrap_or(0);
                    let around = |from: usize, to: usize| {
                        let (from, to) = (from.min(line.len()), to.min(line.len()));
                        line.get(from..to)
                            .unwrap_or("(not on a char boundary)")
                            .to_string()
                    };
                    format!(
                        "{n:?} in {from}: {} ... {} ... {}",
                        around(0, 160),
                        around(at.saturating_sub(200), at + n.len() + 40),
                        around(line.len().saturating_sub(120), line.len())
                    )
                })
            })
            .collect();
        assert!(found.is_empty(), "secrets leaked: {found:#?}");
    }
}

#[test]
fn the_scan_finds_a_planted_secret() {
    let s = Secrets::new();
    let url = format!("postgres://reel:{}@127.0.0.1/db", s.pg_password);
    let needles = s.needles(std::slice::from_ref(&url));
    let mut seen = Seen::default();
    seen.add(
        "clean",
        "postgres://[redacted]@127.0.0.1/db AKIDSECRET s3-secret-",
    );
    seen.assert_clean(&needles);
    for planted in [
        format!("{{\"error\":\"connecting to {url}\"}}"),
        format!("password {} refused", s.pg_password),
        format!("x-amz-credential={}/20260101", s.s3_key_id),
        format!("key={}", s.s3_secret),
        format!("sentry_key={}", s.sentry_key),
    ] {
        let mut seen = Seen::default();
        seen.add("log", planted.clone());
        let caught = std::panic::catch_unwind(|| seen.assert_clean(&needles));
        assert!(caught.is_err(), "the scan missed {planted:?}");
    }
}

/// A Sentry stand-in: answers every request 200 `{}` and keeps what it
/// received (to scan: an event must hold no other secret either).
fn sentry_stand_in() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let keep = keep.clone();
            std::thread::spawn(move || answer_requests(conn, &keep));
        }
    });
    (port, received)
}

/// Reads HTTP/1.1 requests off `conn` (headers, then `Content-Length`
/// bytes of body) into `keep`, answering each 200, until it closes.
fn answer_requests(conn: std::net::TcpStream, keep: &Mutex<Vec<u8>>) {
    use std::io::BufRead;
    let mut writer = conn.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(conn);
    loop {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            keep.lock().unwrap().extend_from_slice(line.as_bytes());
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        keep.lock().unwrap().extend_from_slice(&body);
        let answer =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if writer.write_all(answer).is_err() {
            return;
        }
    }
}

/// `reel ARGS` with `env` at log level `debug`: whether it succeeded, and
/// its standard output and error.
fn reel(args: &[&str], env: &[(String, String)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(args)
        .env_remove("REEL_DATABASE_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("REEL_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `/readyz`, `/metrics` and `/healthz` of `node`, into `seen`; the
/// `/readyz` body.
fn health_bodies(node: &Proc, when: &str, seen: &mut Seen) -> serde_json::Value {
    let mut readyz = serde_json::Value::Null;
    for path in ["/readyz", "/metrics", "/healthz"] {
        let (_, body) = node
            .get(path, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{path} answers"));
        if path == "/readyz" {
            readyz = serde_json::from_str(&body).unwrap();
        }
        seen.add(format!("{path} {when}"), body);
    }
    readyz
}

/// Waits until `/readyz`'s bus says `ok` or not, scanning every body.
fn wait_bus(node: &Proc, up: bool, seen: &mut Seen) -> serde_json::Value {
    let deadline = Instant::now() + REPORT_WITHIN;
    loop {
        let r = health_bodies(node, if up { "bus back" } else { "bus down" }, seen);
        if (r["bus"] == "ok") == up {
            return r;
        }
        assert!(Instant::now() < deadline, "bus up={up} not reported: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_secret(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    // As a mounted secret often is: with a trailing newline.
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_a_health_route() {
    init_logs();
    let s = Secrets::new();
    let storage = TestStorage::postgres_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let secrets_dir = tempfile::tempdir().unwrap();

    // Local Postgres trusts 127.0.0.1: any password connects, and this
    // one is in every connection string the node holds.
    let plain_db = storage.database_url().unwrap().to_string();
    let (scheme, rest) = plain_db.split_once("://").unwrap();
    let (_, host_db) = rest.split_once('@').unwrap();
    let db_url = format!("{scheme}://reel:{}@{host_db}", s.pg_password);
    let mut redis = OwnRedis::start_with_password(free_port(), &s.redis_password);
    let redis_url = redis.url();
    let (sentry_port, sentry_received) = sentry_stand_in();
    let dsn = format!("http://{}@127.0.0.1:{sentry_port}/1", s.sentry_key);
    let needles = s.needles(&[db_url.clone(), redis_url.clone(), dsn.clone()]);

    // Three secrets through files, two through the environment.
    let mut env: Vec<(String, String)> = storage
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "REEL_DATABASE_URL")
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.extend(
        [
            ("REEL_DATA_DIR", dir.path().display().to_string()),
            (
                "REEL_DATABASE_URL_FILE",
                write_secret(secrets_dir.path(), "database-url", &db_url),
            ),
            ("REEL_REDIS_URL", redis_url.clone()),
            ("REEL_S3_ACCESS_KEY_ID", s.s3_key_id.clone()),
            (
                "REEL_S3_SECRET_ACCESS_KEY_FILE",
                write_secret(secrets_dir.path(), "s3-secret", &s.s3_secret),
            ),
            (
                "REEL_SENTRY_DSN_FILE",
                write_secret(secrets_dir.path(), "sentry-dsn", &dsn),
            ),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let mut seen = Seen::default();

    // The CLI: a site and a token, on the same config.
    let cli = |args: &[&str], seen: &mut Seen| -> String {
        let (ok, out, err) = reel(args, &env);
        seen.add(format!("reel {args:?} stdout"), out.clone());
        seen.add(format!("reel {args:?} stderr"), err.clone());
        assert!(ok, "reel {args:?}: {err}");
        out
    };
    cli(&["migrate"], &mut seen);
    let site: serde_json::Value =
        serde_json::from_str(&cli(&["site", "create", "--name", "shop"], &mut seen)).unwrap();
    let key = site["site_key"].as_str().unwrap().to_string();
    let token: serde_json::Value = serde_json::from_str(&cli(
        &["token", "create", "--name", "ops", "--role", "admin"],
        &mut seen,
    ))
    .unwrap();
    let token = token["token"].as_str().unwrap().to_string();

    // The node, without the storage's plain URL or any AWS credentials in
    // its environment: the static S3 keys are what it signs with.
    let mut serve = Proc::serve(dir.path(), &storage)
        .env_remove("REEL_DATABASE_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("REEL_NODE_ID", "secrets-node");
    for (k, v) in &env {
        serve = serve.env(k, v);
    }
    let node = serve.env("REEL_LOG", "debug").start_capturing();
    let r = health_bodies(&node, "at start", &mut seen);
    assert_eq!(r["status"], "ready", "{r}");
    assert_eq!(r["blob_store"], "ok", "S3 with the static keys: {r}");
    wait_bus(&node, true, &mut seen);

    // A recording, acked, and read back through the API.
    let (mut tracker, session) = Tracker::open(&node.ingest_url(&key, "v1"), "v1").await;
    tracker
        .batch_acked(
            0,
            &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
        )
        .await;
    tracker.batch_acked(1, &[ev::click(T0 + 2, 2)]).await;
    tracker.end(1).await;
    let api = Api::new(node.base(), &token);
    let deadline = Instant::now() + REPORT_WITHIN;
    while api.json(&format!("/api/v1/sessions/{session}")).await["segments"] != 1 {
        assert!(Instant::now() < deadline, "no segment of {session} in S3");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let site_id = &site["site_id"];
    for path in [
        "/api/v1/sites".to_string(),
        format!("/api/v1/sites/{site_id}/sessions"),
        format!("/api/v1/sessions/{session}/events"),
    ] {
        let body = api.text(&path).await;
        seen.add(format!("GET {path}"), body);
    }

    // A Redis outage: the node logs it and `/readyz` reports it, then it
    // comes back (same port, same password).
    let port = redis.port;
    redis.stop();
    let r = wait_bus(&node, false, &mut seen);
    assert!(r["bus"].as_str().unwrap().contains("redis"), "{r}");
    let (mut t2, _) = Tracker::open(&node.ingest_url(&key, "v2"), "v2").await;
    t2.batch_acked(0, &[ev::meta(T0, "https://shop.example/")])
        .await;
    let redis = OwnRedis::start_with_password(port, &s.redis_password);
    wait_bus(&node, true, &mut seen);
    t2.end(0).await;

    // SIGTERM: everything the node printed, its last lines included.
    health_bodies(&node, "before stop", &mut seen);
    let output = node.stop_and_output();
    assert!(
        output.contains("\"level\":\"DEBUG\""),
        "the node logged at debug level"
    );
    assert!(
        output.contains("bus subscription down"),
        "the outage was logged"
    );
    seen.add("node output", output);
    drop(redis);

    // Failure paths of the CLI and of a start: the index unreachable, the
    // S3 endpoint unreachable, Redis refusing the password.
    let closed = free_port();
    let with = |changes: &[(&str, String)]| -> Vec<(String, String)> {
        let mut e = env.clone();
        for (k, v) in changes {
            e.retain(|(name, _)| name != k);
            e.push((k.to_string(), v.clone()));
        }
        e
    };
    let db_down = with(&[(
        "REEL_DATABASE_URL_FILE",
        write_secret(
            secrets_dir.path(),
            "database-url-down",
            &format!("postgres://reel:{}@127.0.0.1:{closed}/reel", s.pg_password),
        ),
    )]);
    let (ok, out, err) = reel(&["site", "create", "--name", "down"], &db_down);
    assert!(!ok, "the index is unreachable: {out}");
    seen.add("reel site create, index down", format!("{out}{err}"));

    let s3_down = with(&[
        ("REEL_S3_ENDPOINT", format!("http://127.0.0.1:{closed}")),
        ("REEL_LISTEN", "127.0.0.1:0".into()),
    ]);
    let (ok, out, err) = reel(&["serve"], &s3_down);
    assert!(!ok, "S3 is unreachable: {out}");
    seen.add("reel serve, S3 down", format!("{out}{err}"));

    let wrong = OwnRedis::start_with_password(free_port(), &s.redis_password);
    let wrong_url = format!(
        "redis://:{}-wrong@127.0.0.1:{}/",
        s.redis_password, wrong.port
    );
    let redis_refuses = with(&[
        ("REEL_REDIS_URL", wrong_url),
        ("REEL_LISTEN", "127.0.0.1:0".into()),
    ]);
    let (ok, out, err) = reel(&["serve"], &redis_refuses);
    assert!(!ok, "Redis refuses the password: {out}");
    seen.add("reel serve, Redis refuses", format!("{out}{err}"));

    seen.assert_clean(&needles);

    // What reached the Sentry stand-in holds no other secret (its own
    // key is in its auth header by design).
    let sent = String::from_utf8_lossy(&sentry_received.lock().unwrap()).into_owned();
    assert!(
        sent.contains("POST /api/1/envelope/"),
        "the DSN from its file reached Sentry (the outage's ERROR): {sent}"
    );
    let others: Vec<String> = needles
        .iter()
        .filter(|n| !n.contains(&s.sentry_key))
        .cloned()
        .collect();
    let found = leaks(&sent, &others);
    assert!(found.is_empty(), "secrets sent to Sentry: {found:?}");
}
