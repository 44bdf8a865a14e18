//! Redaction on the node (PROTOCOL.md §7), from hostile payloads sent
//! straight over the ingest protocol (no tracker to mask anything first):
//! what the built-in rules, the site's `redact_params` and its
//! `redact_patterns` match is `[redacted]` in the stored NDJSON, in a live
//! watcher's stream, and nowhere under the node's data directory (spool,
//! index, blobs), while the other events keep their bytes. A site's change
//! of rules applies from the next batch; a pattern that is no pattern is
//! refused. Network events keep no headers, and bodies only of the URLs
//! the site allows, cut to `NETWORK_BODY_MAX_BYTES`.

use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

const T0: i64 = 1_700_000_000_000;

/// Secrets the hostile tracker sends; none may be stored or sent to viewers.
const SECRETS: &[&str] = &[
    "ann.secret@mail.example",
    "tokSECRET1",
    "refSECRET2",
    "eyJbearerSECRET3",
    "4111 1111 1111 1111",
    "4111111111111111",
    "ORD-123456",
    "zzAuthSECRET4",
];

fn console(ts: i64, level: &str, args: &[&str]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    format!(
        r#"{{"type":6,"data":{{"plugin":"rrweb/console@1","payload":{{"level":"{level}","trace":["at pay (https://shop.example/app.js:1:2)"],"payload":{}}}}},"timestamp":{ts}}}"#,
        serde_json::to_string(&args).unwrap()
    )
}

fn network(ts: i64, url: &str, error: &str) -> String {
    format!(
        r#"{{"type":6,"data":{{"plugin":"reel/network@1","payload":{{"method":"POST","url":{},"status":0,"ok":false,"start":{ts},"duration_ms":12,"request_bytes":null,"response_bytes":null,"initiator":"fetch","error":{},"request_body":"{{\"card\":\"4111-1111-1111-1111\"}}"}}}},"timestamp":{ts}}}"#,
        serde_json::to_string(url).unwrap(),
        serde_json::to_string(error).unwrap(),
    )
}

fn error(ts: i64, message: &str, stack: &str) -> String {
    format!(
        r#"{{"type":5,"data":{{"tag":"error","payload":{{"message":{},"stack":{},"source":"https://shop.example/app.js","line":1,"col":2}}}},"timestamp":{ts}}}"#,
        serde_json::to_string(message).unwrap(),
        serde_json::to_string(stack).unwrap(),
    )
}

/// Reads the tracker's messages until the ack of `seq` (skipping snapshot
/// requests and settings).
async fn acked(t: &mut Tracker, seq: u64) {
    loop {
        let m = t.recv().await;
        if m["t"] == "ack" && m["seq"].as_u64() >= Some(seq) {
            return;
        }
        assert!(m["t"] == "ack" || m["t"] == "snapshot", "{m}");
    }
}

/// Every file under `dir`, with zstd frames decompressed too.
fn files_under(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                if let Ok(plain) = zstd::decode_all(&bytes[..]) {
                    out.push((format!("{} (zstd)", path.display()), plain));
                }
            }
            out.push((path.display().to_string(), bytes));
        }
    }
}

/// Asserts that no secret is anywhere under `dir`; returns how many files
/// were read.
fn no_secret_under(dir: &Path) -> usize {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    for (name, bytes) in &files {
        for s in SECRETS {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s:?} is in {name}"
            );
        }
    }
    files.len()
}

fn no_secret_in(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{s:?} is in {what}: {text}");
    }
}

#[actix_web::test]
async fn hostile_payloads_are_redacted_before_the_spool() {
    let app = spawn_app().await;
    let site = format!("/api/v1/sites/{}", app.site_id);
    let api = app.api();

    // A pattern that is no pattern is refused, with the settings' shape.
    for (bad, says) in [("(ORD", "unclosed group"), ("x*", "empty string")] {
        let (status, body) = api
            .send(
                Method::PATCH,
                &site,
                &json!({"settings": {"redact_patterns": [bad]}}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "bad_request", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("redact_patterns") && message.contains(says),
            "{message}"
        );
    }
    let (status, body) = api
        .send(
            Method::PATCH,
            &site,
            &json!({"settings": {"redact_params": ["token", "order_ref"], "redact_patterns": ["ORD-\\d{6}"], "network_body_urls": ["https://api.shop.example/*"]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["redact_patterns"], json!(["ORD-\\d{6}"]));

    let mut t = app.tracker("v-hostile").await;
    let w = t.hello("v-hostile", None, "tab", None).await;
    // The patterns are the node's: trackers are not told them.
    assert_eq!(w["settings"]["redact_patterns"], json!([]));
    assert_eq!(
        w["settings"]["redact_params"],
        json!(["token", "order_ref"])
    );
    let session = w["session"].as_str().unwrap().to_string();

    // A live viewer watches the session.
    let mut live = app
        .open_live(&Cred::Bearer(app.token.clone()))
        .await
        .unwrap();
    live.send(Message::Text(
        json!({"t": "watch", "session": session}).to_string(),
    ))
    .await
    .unwrap();
    // The watch reaches the session: its tracker is asked for a snapshot.
    let m = t.recv().await;
    assert_eq!(m["t"], "snapshot", "{m}");

    let kept = vec![
        ev::meta(T0, "https://shop.example/checkout"),
        // Snapshots are never read: what the page showed stays as it was.
        ev::full_snapshot(T0 + 1, "Checkout"),
        ev::click(T0 + 2, 3),
        console(T0 + 3, "log", &["all fine", "{\"n\":1}"]),
    ];
    let hostile = [
        console(
            T0 + 4,
            "error",
            &["signed in as ann.secret@mail.example", "{\"email\":\"ann.secret@mail.example\"}"],
        ),
        network(
            T0 + 5,
            "https://api.shop.example/pay?token=tokSECRET1&order_ref=refSECRET2&page=2",
            "POST https://api.shop.example/pay?token=tokSECRET1 failed",
        ),
        error(
            T0 + 6,
            "payment failed for card 4111 1111 1111 1111",
            "Error: 401\n    at pay (Authorization: Bearer eyJbearerSECRET3)\n    at send (app.js:1:2)",
        ),
        console(T0 + 7, "warn", &["order ORD-123456 declined", "Authorization: Basic zzAuthSECRET4"]),
    ];
    let mut batch = kept.clone();
    batch.extend(hostile.iter().cloned());
    t.send_batch(0, &batch).await;
    acked(&mut t, 0).await;
    // Acked means in the spool: nothing secret there.
    assert!(no_secret_under(app.dir.path()) > 0);

    // The live watcher got the batch, redacted.
    let mut seen = String::new();
    tokio::time::timeout(REPLY_TIMEOUT, async {
        while !seen.contains("order [redacted] declined") {
            match live.next().await {
                Some(Ok(Message::Text(text))) => seen.push_str(&text),
                Some(Ok(_)) => {}
                other => panic!("live socket: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the watcher got no redacted batch: {seen}"));
    no_secret_in("the live stream", &seen);
    assert!(seen.contains("[redacted]"));

    // A change of the site's rules applies from the next batch: once the
    // tracker is told the new params, the node redacts with them.
    let (status, body) = api
        .send(
            Method::PATCH,
            &site,
            &json!({"settings": {"redact_params": ["token", "order_ref", "sku"], "redact_patterns": ["ORD-\\d{6}", "(?i)vip-\\w+"]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let later = [
        console(T0 + 8, "log", &["customer tier VIP-gold"]),
        network(T0 + 9, "https://api.shop.example/cart?sku=A-1", "none"),
    ];
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let m = t.recv().await;
            if m["t"] == "settings" {
                assert_eq!(m["redact_patterns"], json!([]), "{m}");
                assert_eq!(m["redact_params"], json!(["token", "order_ref", "sku"]));
                return;
            }
        }
    })
    .await
    .expect("no settings message within 5 s");
    t.send_batch(1, &later).await;
    acked(&mut t, 1).await;
    t.send_json(&json!({"t": "end"})).await;
    acked(&mut t, 1).await;

    let stored = app.events(&session, None).await;
    let lines: Vec<&str> = stored.lines().collect();
    assert_eq!(lines.len(), batch.len() + later.len(), "{stored}");
    // Events no rule matched are stored byte for byte.
    for (line, sent) in lines.iter().zip(&kept) {
        assert_eq!(line, sent);
    }
    no_secret_in("the stored events", &stored);
    let v: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let p = |i: usize| &v[i]["data"]["payload"];
    assert_eq!(
        p(4)["payload"],
        json!([
            "\"signed in as [redacted]\"",
            "\"{\\\"email\\\":\\\"[redacted]\\\"}\""
        ])
    );
    assert_eq!(
        p(5)["url"],
        "https://api.shop.example/pay?token=[redacted]&order_ref=[redacted]&page=2"
    );
    assert_eq!(
        p(5)["error"],
        "POST https://api.shop.example/pay?token=[redacted] failed"
    );
    assert_eq!(p(5)["request_body"], "{\"card\":\"[redacted]\"}");
    assert_eq!(p(5)["status"], 0);
    assert_eq!(p(6)["message"], "payment failed for card [redacted]");
    assert!(
        p(6)["stack"]
            .as_str()
            .unwrap()
            .contains("Authorization: [redacted]"),
        "{}",
        p(6)
    );
    assert_eq!(
        p(7)["payload"],
        json!([
            "\"order [redacted] declined\"",
            "\"Authorization: [redacted]\""
        ])
    );
    assert_eq!(p(8)["payload"], json!(["\"customer tier [redacted]\""]));
    assert_eq!(p(9)["url"], "https://api.shop.example/cart?sku=[redacted]");
    // The kinds are what they were: the session counted the console error
    // and the error event.
    let row = app
        .wait_session(&session, "the session's counters", |s| {
            s["console_errors"].as_u64() == Some(2) && s["events"].as_u64() == Some(10)
        })
        .await;
    // Sizes are those of the stored bytes.
    assert_eq!(
        row["raw_bytes"].as_u64(),
        Some(stored.len() as u64),
        "{row}"
    );
    t.close().await;

    // Committed: nothing secret in the index, the blobs or the spool.
    no_secret_under(app.dir.path());
}

/// A network event to `url` carrying headers and these bodies.
fn network_with_bodies(ts: i64, url: &str, request_body: &str, response_body: &str) -> String {
    json!({
        "type": 6,
        "timestamp": ts,
        "data": {"plugin": "reel/network@1", "payload": {
            "method": "POST", "url": url, "status": 200, "ok": true, "start": ts,
            "duration_ms": 3, "request_bytes": request_body.len(),
            "response_bytes": response_body.len(), "initiator": "fetch", "error": null,
            "headers": {"cookie": "sid=HEADERSECRET1"},
            "request_headers": {"x-api-key": "HEADERSECRET2"},
            "response_headers": [["set-cookie", "HEADERSECRET3"]],
            "request_body": request_body,
            "response_body": response_body,
        }},
    })
    .to_string()
}

#[actix_web::test]
async fn network_headers_are_never_stored_and_bodies_only_as_the_site_allows() {
    use reel_protocol::settings::NETWORK_BODY_MAX_BYTES;
    let app = spawn_app().await;
    let (status, body) = app
        .api()
        .send(
            Method::PATCH,
            &format!("/api/v1/sites/{}", app.site_id),
            &json!({"settings": {"network_body_urls": ["https://shop.example/api/allowed/*"]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let mut t = app.tracker("v-bodies").await;
    let w = t.hello("v-bodies", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    // A hostile tracker: headers everywhere, a 100 KiB body for a URL the
    // site does not allow, a 20 KiB one (of two-byte characters) for one
    // it does.
    let big = format!("NOTALLOWED{}", "x".repeat(100 * 1024));
    let allowed = "é".repeat(10 * 1024);
    let events = vec![
        ev::meta(T0, "https://shop.example/cart"),
        ev::full_snapshot(T0 + 1, "Cart"),
        network_with_bodies(T0 + 2, "https://shop.example/api/other", &big, &big),
        network_with_bodies(
            T0 + 3,
            "https://shop.example/api/allowed/cart#x",
            "q=1",
            &allowed,
        ),
    ];
    t.batch_acked(0, &events).await;
    t.send_json(&json!({"t": "end"})).await;
    acked(&mut t, 0).await;
    let row = app
        .wait_session(&session, "the events committed", |v| {
            v["events"].as_u64() == Some(events.len() as u64)
        })
        .await;

    let stored = app.events(&session, None).await;
    let lines: Vec<&str> = stored.lines().collect();
    assert_eq!(lines.len(), events.len(), "{stored:.300}");
    // Snapshots keep their bytes.
    assert_eq!(lines[0], events[0]);
    assert_eq!(lines[1], events[1]);
    assert!(!stored.contains("HEADERSECRET"), "{stored:.2000}");
    assert!(!stored.contains("NOTALLOWED"));
    let v: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys = |i: usize| {
        let mut k: Vec<String> = v[i]["data"]["payload"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let fields = [
        "duration_ms",
        "error",
        "initiator",
        "method",
        "ok",
        "request_bytes",
        "response_bytes",
        "start",
        "status",
        "url",
    ];
    assert_eq!(keys(2), fields);
    let mut with_bodies: Vec<&str> = fields.to_vec();
    with_bodies.extend(["request_body", "response_body"]);
    with_bodies.sort();
    assert_eq!(keys(3), with_bodies);
    // The sizes the tracker measured stay.
    assert_eq!(v[2]["data"]["payload"]["response_bytes"], big.len());
    let p = &v[3]["data"]["payload"];
    assert_eq!(p["request_body"], "q=1");
    let cut = p["response_body"].as_str().unwrap();
    assert_eq!(cut.len(), NETWORK_BODY_MAX_BYTES);
    assert!(allowed.starts_with(cut));
    // The stored sizes are the stored bytes.
    assert_eq!(
        row["raw_bytes"].as_u64(),
        Some(stored.len() as u64),
        "{row}"
    );
    t.close().await;
}
