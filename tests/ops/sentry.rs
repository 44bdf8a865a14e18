//! Failure reporting, proven: a real node with a real DSN pointing at a
//! Sentry stand-in on 127.0.0.1, a real fault provoked through the node's
//! interfaces, and what reaches the stand-in read byte by byte.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// The DSN's public key and project.
const PUBLIC_KEY: &str = "0123456789abcdef0123456789abcdef";
const PROJECT: &str = "42";
/// Longest the test waits for an envelope.
const EVENT_WAIT: Duration = Duration::from_secs(20);

/// Secrets a request carries: none may reach Sentry.
const COOKIE_VALUE: &str = "cookie-secret-5c1e0d";
const QUERY_TOKEN: &str = "query-token-8b7f2a";
const QUERY_PASSWORD: &str = "query-password-3e9d41";

/// A stand-in for Sentry's ingestion endpoint: answers every request 200
/// and keeps each one whole (request line, headers and body, the body
/// gunzipped when sent gzip-compressed).
struct Receiver {
    port: u16,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let kept = kept.clone();
                std::thread::spawn(move || serve(conn, &kept));
            }
        });
        Receiver { port, requests }
    }

    fn dsn(&self) -> String {
        format!("http://{PUBLIC_KEY}@127.0.0.1:{}/{PROJECT}", self.port)
    }

    /// Every request received so far, as bytes.
    fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }

    /// Every event item of every envelope received so far.
    fn events(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .flat_map(|r| {
                let body = r
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(&r[..0], |at| &r[at + 4..]);
                event_items(body)
            })
            .collect()
    }

    /// Waits until at least `n` events arrived (at most [`EVENT_WAIT`]).
    fn wait_events(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "{} events within {EVENT_WAIT:?}, not {n}",
                events.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Answers one connection's requests (HTTP/1.1 keep-alive) until it closes.
fn serve(conn: TcpStream, kept: &Mutex<Vec<Vec<u8>>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let end = line == b"\r\n";
            head.extend_from_slice(&line);
            if end {
                break;
            }
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let header = |name: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_owned())
            })
        };
        let mut body = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            let len: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
            body.resize(len, 0);
            reader.read_exact(&mut body).unwrap();
        }
        if header("content-encoding").is_some_and(|v| v.contains("gzip")) {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .unwrap();
            body = plain;
        }
        let mut request = head;
        request.extend_from_slice(&body);
        // Kept before answering: once the node has its answer (and so once
        // it exited after its flush), the request is here.
        kept.lock().unwrap().push(request);
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if conn.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The event payloads of an envelope: a header line, then items, each a
/// header line and a payload of the header's `length` or up to the next
/// newline.
fn event_items(envelope: &[u8]) -> Vec<Value> {
    let line = |at: usize| {
        let end = envelope[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(envelope.len(), |i| at + i);
        (&envelope[at..end], (end + 1).min(envelope.len()))
    };
    let mut events = Vec::new();
    let (_, mut at) = line(0);
    while at < envelope.len() {
        let (header, next) = line(at);
        if header.is_empty() {
            at = next;
            continue;
        }
        let header: Value = serde_json::from_slice(header).unwrap();
        let (payload, after) = match header["length"].as_u64() {
            Some(len) => {
                let end = next + len as usize;
                (&envelope[next..end], (end + 1).min(envelope.len()))
            }
            None => line(next),
        };
        if header["type"] == "event" {
            events.push(serde_json::from_slice(payload).unwrap());
        }
        at = after;
    }
    events
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[actix_web::test]
async fn a_failed_request_is_one_sentry_event_with_its_tags_and_nothing_secret() {
    let receiver = Receiver::start();
    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (site, token) = cli_site_and_token(dir.path(), &storage, "sentry");
    let key = site["site_key"].as_str().unwrap().to_string();
    let site_id = site["site_id"].as_i64().unwrap();
    // No compaction: it would be a second reader of the index broken
    // below, and so a second (real) fault.
    let node = Proc::serve(dir.path(), &storage)
        .env("REEL_SENTRY_DSN", receiver.dsn())
        .env("REEL_COMPACTION_ENABLED", "0")
        .start();
    let api = Api::new(node.base(), &token);
    let (mut tracker, session) = Tracker::open(&node.ingest_url(&key, "v1"), "v1").await;
    tracker
        .batch_acked(
            0,
            &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
        )
        .await;
    tracker.end(0).await;
    let deadline = Instant::now() + EVENT_WAIT;
    while api.json(&format!("/api/v1/sessions/{session}")).await["segments"] != 1 {
        assert!(Instant::now() < deadline, "no segment of {session}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(receiver.events().is_empty(), "{:?}", receiver.events());

    // The index no longer has what the node reads (a hand-made schema
    // change gone wrong): listing the session's segments fails.
    storage
        .execute(
            dir.path(),
            "ALTER TABLE segments RENAME COLUMN raw_bytes TO raw_bytes_lost",
        )
        .await;
    let query = format!("token={QUERY_TOKEN}&password={QUERY_PASSWORD}");
    let res = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/sessions/{session}/events?{query}",
            node.base()
        ))
        .bearer_auth(&token)
        .header("Cookie", format!("reel_session={COOKIE_VALUE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 500);
    receiver.wait_events(1);
    // SIGTERM flushes what the node still holds: after its exit, every
    // envelope it sent is here.
    let output = node.stop_and_output();
    let events = receiver.events();
    assert_eq!(
        events.len(),
        1,
        "one fault, one event: {events:#?}\n{output}"
    );
    let event = &events[0];
    // The handler's ERROR (`level` is left out at its default, error).
    assert_eq!(event["message"], "internal error", "{event:#}");
    assert!(
        matches!(event["level"].as_str(), None | Some("error")),
        "{event:#}"
    );
    let tags = &event["tags"];
    assert_eq!(
        tags["route"], "/api/v1/sessions/{session}/events",
        "{event:#}"
    );
    assert_eq!(tags["site"], site_id.to_string(), "{event:#}");
    assert_eq!(tags["session"], session.as_str(), "{event:#}");
    assert!(
        tags["node"].as_str().is_some_and(|n| !n.is_empty()),
        "{event:#}"
    );

    let sent = receiver.requests();
    for secret in [
        COOKIE_VALUE,
        QUERY_TOKEN,
        QUERY_PASSWORD,
        query.as_str(),
        token.as_str(),
    ] {
        assert!(
            !sent.iter().any(|r| contains(r, secret)),
            "{secret:?} reached Sentry: {event:#}"
        );
    }
    // The concrete path is not a tag (its id is, as `session`).
    assert!(
        !tags.as_object().unwrap().values().any(|v| v
            .as_str()
            .is_some_and(|v| v.contains("/sessions/") && v.contains(&session))),
        "{event:#}"
    );
}

#[test]
fn envelopes_are_read_item_by_item() {
    let envelope = b"{\"event_id\":\"e\"}\n{\"type\":\"client_report\"}\n{\"x\":1}\n{\"type\":\"event\",\"length\":11}\n{\"a\":\"b\\n\"}\n{\"type\":\"event\"}\n{\"c\":2}\n";
    let events = event_items(envelope);
    assert_eq!(
        events,
        [serde_json::json!({"a": "b\n"}), serde_json::json!({"c": 2})]
    );
}
