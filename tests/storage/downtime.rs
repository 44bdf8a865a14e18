//! Postgres stopped, then S3 cut off, while trackers record: every acked
//! batch is readable afterwards, every index row is right, and acks keep
//! their deadline throughout.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reel::config::Config;
use reel::secrets::Secret;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::services::{s3_target, OwnPostgres, Proxy};
use crate::support::*;

/// Batches a tab sends between page loads (a new connection continuing
/// the session and tab).
const PAGE_BATCHES: u64 = 40;
/// Pace of each tracker.
const BATCH_EVERY: Duration = Duration::from_millis(25);
/// PROTOCOL.md §1: batch received -> ack, at most.
pub const ACK_DEADLINE: Duration = Duration::from_secs(5);
/// Longest the test waits for the node to catch up after the outages.
const CATCH_UP: Duration = Duration::from_secs(120);

pub fn batch(visitor: &str, seq: u64) -> Vec<String> {
    let ts = T0 + seq as i64 * 100;
    vec![
        ev::click(ts, seq as u32),
        ev::input(ts + 1, 3, &format!("{visitor}-{seq}-{}", "x".repeat(300))),
    ]
}

pub struct Recorded {
    pub visitor: String,
    pub session: String,
    pub batches: u64,
    /// (phase, batch sent -> ack).
    pub acks: Vec<(&'static str, Duration)>,
}

/// One visitor's tab: identifies, sends batches at a steady pace with a
/// page load every [`PAGE_BATCHES`], until `stop`; then `end`.
pub async fn visitor(
    url: String,
    visitor: String,
    phase: watch::Receiver<&'static str>,
    mut stop: watch::Receiver<bool>,
    max_batches: u64,
) -> Recorded {
    let mut t = Tracker::connect(&url, None).await.unwrap();
    let w = t.hello(&visitor, None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.send_json(
        &json!({"t": "identify", "user_id": format!("user-{visitor}"), "traits": {"plan": "pro"}}),
    )
    .await;
    let mut acks = Vec::new();
    let mut seq = 0u64;
    let mut every = tokio::time::interval(BATCH_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() || seq == max_batches {
            break;
        }
        if seq > 0 && seq.is_multiple_of(PAGE_BATCHES) {
            t.close().await;
            t = Tracker::connect(&url, None).await.unwrap();
            let w = t
                .hello(&visitor, Some(&session), "tab", Some(seq - 1))
                .await;
            assert_eq!(w["session"], session.as_str(), "{visitor} continued: {w}");
            assert_eq!(w["next_seq"], seq, "{visitor}: {w}");
        }
        let sent = Instant::now();
        t.batch_acked(seq, &batch(&visitor, seq)).await;
        acks.push((*phase.borrow(), sent.elapsed()));
        seq += 1;
    }
    if seq > 0 {
        t.end(seq - 1).await;
    }
    t.close().await;
    Recorded {
        visitor,
        session,
        batches: seq,
        acks,
    }
}

/// Polls `/readyz` (bounded) until `cond` holds.
pub async fn wait_ready(
    http: &reqwest::Client,
    base: &str,
    what: &str,
    cond: impl Fn(u16, &Value) -> bool,
) -> Value {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let (status, v) = readyz(http, base).await;
        if cond(status, &v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {status} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn postgres_then_s3_outage_loses_no_acked_batch() {
    init_logs();
    aws_test_credentials();
    let pg = OwnPostgres::start();
    pg.create_db("reel").await;
    let proxy = Proxy::start(s3_target()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config: Config = test_config(dir.path());
    config.database_url = Some(Secret::new(pg.url("reel")));
    config.s3.bucket = Some(format!(
        "reel-downtime-{}",
        reel_actors::sessions::new_id(8).to_lowercase()
    ));
    config.s3.endpoint = Some(format!("http://{}", proxy.addr));
    config.s3.create_bucket = true;
    // Segments every few seconds of a tab, so that outages catch many.
    config.segments.max_bytes = 16 * 1024;
    config.segments.max_age_ms = 1_000;
    // Visitors who stop end within the outage.
    config.limits.inactivity_timeout_ms = 4_000;
    let (_, key, token) = bootstrap(&config, &[]).await;
    // A site no tracker has used yet: the node has never looked it up.
    let unseen = {
        let index = reel::app::open_index(&config).await.unwrap();
        let (_, unseen) = index.create_site("default", "unseen", &[]).await.unwrap();
        index.close().await;
        unseen
    };
    let node = start_node(config).await;
    let base = format!("http://{}", node.addr);
    let addr = node.addr;
    let url = move |v: &str| format!("ws://{addr}/v1/ingest?site={key}&visitor={v}");
    let api = Api::new(&base, &token);
    let http = api.http.clone();

    let (phase_tx, phase) = watch::channel("normal");
    let (stop_all, stop) = watch::channel(false);
    let mut tabs = Vec::new();
    let spawn = |name: String, stop: watch::Receiver<bool>| {
        actix_web::rt::spawn(visitor(url(&name), name, phase.clone(), stop, u64::MAX))
    };
    for i in 0..6 {
        tabs.push(spawn(format!("a{i}"), stop.clone()));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Postgres goes away.
    pg.stop();
    phase_tx.send_replace("postgres_down");
    let (status, ready) = readyz(&http, &base).await;
    assert_eq!(status, 503, "{ready}");
    assert_ne!(ready["index"], "ok", "{ready}");
    assert_eq!(ready["blob_store"], "ok", "{ready}");
    // A site the node has not seen cannot be checked: 503, try later.
    let refused = Tracker::connect(
        &format!("ws://{addr}/v1/ingest?site={unseen}&visitor=u"),
        None,
    )
    .await
    .err()
    .unwrap();
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "unavailable");
    assert_eq!(refused.retry_after.as_deref(), Some("10"));
    // New visitors start sessions the index cannot take yet.
    for i in 0..3 {
        tabs.push(spawn(format!("b{i}"), stop.clone()));
    }
    // One visitor leaves during the outage (after 20 batches, half a
    // second): its session ends in it.
    tabs.push(actix_web::rt::spawn(visitor(
        url("c0"),
        "c0".into(),
        phase.clone(),
        stop.clone(),
        20,
    )));
    tokio::time::sleep(Duration::from_millis(6000)).await;
    assert!(
        readyz(&http, &base).await.1["outbox"]["queued"]
            .as_u64()
            .unwrap()
            > 0,
        "writes queued while Postgres is down"
    );

    // Postgres is back; then S3 goes away.
    pg.resume();
    phase_tx.send_replace("postgres_back");
    wait_ready(&http, &base, "the index", |_, v| v["index"] == "ok").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    proxy.cut();
    phase_tx.send_replace("s3_down");
    let (status, ready) = readyz(&http, &base).await;
    assert_eq!(status, 503, "{ready}");
    assert_ne!(ready["blob_store"], "ok", "{ready}");
    for i in 0..2 {
        tabs.push(spawn(format!("d{i}"), stop.clone()));
    }
    tokio::time::sleep(Duration::from_millis(5000)).await;
    assert!(
        readyz(&http, &base).await.1["outbox"]["queued"]
            .as_u64()
            .unwrap()
            > 0,
        "segments queued while S3 is down"
    );
    // The replay API says a session is still being written.
    let list = api.json("/api/v1/sites/1/sessions?limit=100").await;
    let a0 = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["visitor_id"] == "a0")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let row = api.json(&format!("/api/v1/sessions/{a0}")).await;
    assert_eq!(row["writing"], true, "{row}");
    proxy.restore();
    phase_tx.send_replace("s3_back");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop_all.send_replace(true);
    let mut recorded = Vec::new();
    for t in tabs {
        recorded.push(t.await.unwrap());
    }

    // Everything reaches storage: the outbox empties, and every session
    // ends (inactivity) with its end written.
    wait_ready(&http, &base, "the outbox to drain", |s, v| {
        s == 200 && v["outbox"]["queued"] == 0
    })
    .await;
    for r in &recorded {
        let deadline = Instant::now() + CATCH_UP;
        let info: Value = loop {
            let v = api.json(&format!("/api/v1/sessions/{}", r.session)).await;
            if !v["ended_at"].is_null() && v["writing"] == false {
                break v;
            }
            assert!(Instant::now() < deadline, "{} never ended: {v}", r.visitor);
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let text = api
            .text(&format!("/api/v1/sessions/{}/events?tab=tab", r.session))
            .await;
        let want: Vec<String> = (0..r.batches).flat_map(|s| batch(&r.visitor, s)).collect();
        assert!(
            text == ndjson(&want),
            "{}: {} of {} events stored",
            r.visitor,
            text.lines().count(),
            want.len()
        );
        assert_eq!(info["events"], 2 * r.batches, "{}: {info}", r.visitor);
        assert_eq!(info["clicks"], r.batches, "{}: {info}", r.visitor);
        assert_eq!(info["user_id"], format!("user-{}", r.visitor), "{info}");
        assert_eq!(info["user_traits"]["plan"], "pro", "{info}");
        assert_eq!(info["visitor_id"], r.visitor.as_str(), "{info}");
        assert!(info["segments"].as_u64().unwrap() >= 1, "{info}");
        assert!(
            info["stored_bytes"].as_u64().unwrap() > 0
                && info["raw_bytes"].as_u64().unwrap() >= text.len() as u64 - r.batches * 2,
            "{info}"
        );
    }

    // Ack latency by phase.
    let mut by_phase: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for r in &recorded {
        for (p, d) in &r.acks {
            by_phase.entry(p).or_default().push(*d);
        }
    }
    let mut report = serde_json::Map::new();
    for (p, v) in by_phase.iter_mut() {
        v.sort();
        let (p50, p99, max) = (percentile(v, 0.5), percentile(v, 0.99), *v.last().unwrap());
        println!(
            "ack latency {p:>14}: {:>5} acks  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            v.len(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
        report.insert(
            p.to_string(),
            json!({"acks": v.len(), "p50_ms": p50.as_secs_f64() * 1e3, "p99_ms": p99.as_secs_f64() * 1e3, "max_ms": max.as_secs_f64() * 1e3}),
        );
        assert!(max < ACK_DEADLINE, "an ack took {max:?} while {p}");
    }
    for p in ["normal", "postgres_down", "s3_down"] {
        assert!(
            by_phase.get(p).is_some_and(|v| v.len() > 50),
            "too few acks while {p}"
        );
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/downtime-report.json");
    let _ = std::fs::write(out, serde_json::to_string_pretty(&report).unwrap());
    node.shutdown().await;
}

/// The spool's bound, crossed: with S3 cut off, segments wait in the
/// spool; past `warn_ratio` the node says so and still takes connections;
/// at the bound new connections get 503 `unavailable` with `Retry-After`
/// while the open one keeps recording; once S3 is back and the spool has
/// drained, connections are taken again and nothing is lost.
#[actix_web::test]
async fn a_full_spool_refuses_new_connections_until_storage_drains_it() {
    init_logs();
    let storage = TestStorage::postgres_s3().await;
    let proxy = Proxy::start(s3_target()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    storage.apply(&mut config);
    config.s3.endpoint = Some(format!("http://{}", proxy.addr));
    config.spool.file_bytes = 64 * 1024;
    config.spool.max_bytes = 512 * 1024;
    config.spool.warn_ratio = 0.5;
    config.segments.max_bytes = 16 * 1024;
    // One tracker fills the spool as fast as acks come.
    config.limits.session_messages_per_sec = 100_000;
    config.limits.session_messages_burst = 100_000;
    let (_, key, token) = bootstrap(&config, &[]).await;
    let node = start_node(config).await;
    let (addr, base) = (node.addr, format!("http://{}", node.addr));
    let url = |v: &str| format!("ws://{addr}/v1/ingest?site={key}&visitor={v}");
    let api = Api::new(&base, &token);
    let http = api.http.clone();

    proxy.cut();
    let mut t = Tracker::connect(&url("filler"), None).await.unwrap();
    let session = t.hello("filler", None, "tab", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seq = 0u64;
    let mut warned = false;
    loop {
        t.batch_acked(seq, &batch("filler", seq)).await;
        seq += 1;
        let (_, ready) = readyz(&http, &base).await;
        match ready["spool"]["state"].as_str().unwrap() {
            "ok" => {}
            "warning" if !warned => {
                warned = true;
                // Warned, not refusing yet.
                let mut other = Tracker::connect(&url("early"), None).await.unwrap();
                other.hello("early", None, "tab", None).await;
                other.close().await;
            }
            "warning" => {}
            "full" => break,
            other => panic!("spool state {other}"),
        }
        assert!(seq < 10_000, "the spool never filled: {ready}");
    }
    assert!(warned, "no warning before the spool was full");
    let (status, ready) = readyz(&http, &base).await;
    assert_eq!(status, 503, "{ready}");
    let refused = Tracker::connect(&url("late"), None).await.err().unwrap();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.body["error"], "unavailable");
    assert_eq!(refused.retry_after.as_deref(), Some("30"));
    // The open connection keeps recording.
    for _ in 0..5 {
        t.batch_acked(seq, &batch("filler", seq)).await;
        seq += 1;
    }

    proxy.restore();
    t.end(seq - 1).await;
    wait_ready(&http, &base, "the spool to drain", |s, v| {
        s == 200 && v["outbox"]["queued"] == 0 && v["spool"]["state"] == "ok"
    })
    .await;
    let mut again = Tracker::connect(&url("late"), None).await.unwrap();
    again.hello("late", None, "tab", None).await;
    let text = api
        .text(&format!("/api/v1/sessions/{session}/events?tab=tab"))
        .await;
    let want: Vec<String> = (0..seq).flat_map(|s| batch("filler", s)).collect();
    assert!(text == ndjson(&want), "every acked batch is stored");
    node.shutdown().await;
}
